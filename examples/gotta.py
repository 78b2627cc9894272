"""Gotta / MinPrompt end to end with a plain Lightning Trainer on the bundled SQuAD sample.

Builds the few-shot DataModule (16 examples + cloze or MinPrompt augmentation), a tiny T5, trains on
L_ori + λ·L_aug, reports dev and test F1/EM, and draws the MinPrompt sentence graph of the training pool with its
greedy dominating set highlighted (sentence_graph.png).

    python examples/gotta.py                              # Gotta, ~1-2 minutes on CPU
    python examples/gotta.py --augmentation minprompt     # MinPrompt
    python examples/gotta.py --fast                       # seconds (used by the tests)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import lightning as L


def plot_sentence_graph(out: Path, max_nodes: int = 120) -> Path:
    """Draw the co-mention sentence graph of the bundled pool; dominating-set nodes in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    from data_modules.minprompt import extract_sentences, load_ner
    from data_modules.qa import read_qa
    from data_modules.fewshot_qa import resolve_path
    from data_modules.sentence_graph import greedy_dominating_set, to_networkx

    recs, _ = read_qa(resolve_path("samples:qa/squad_train_pool.json"))
    contexts = list(dict.fromkeys(r["context"] for r in recs))
    sents = extract_sentences(contexts, load_ner("en_core_web_sm", resolve_path("samples:qa/gazetteer_en.tsv")))
    keys = [[(e[2], e[3]) for e in s["entities"]] for s in sents if s["entities"]][:max_nodes]
    graph = to_networkx(keys)
    chosen = set(greedy_dominating_set(keys))
    assert nx.is_dominating_set(graph, chosen)
    fig, ax = plt.subplots(figsize=(8, 8))
    pos = nx.spring_layout(graph, seed=0)
    nx.draw_networkx_edges(graph, pos, ax=ax, alpha=0.2)
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_size=30,
                           node_color=["tab:red" if v in chosen else "tab:blue" for v in graph.nodes])
    ax.set_title(f"sentence graph: {graph.number_of_nodes()} sentences with entities, {graph.number_of_edges()} edges, "
                 f"dominating set {len(chosen)} (red)")
    ax.axis("off")
    path = out / "sentence_graph.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict:
    from data_modules.fewshot_qa import FewShotQADataModule
    from lit_agents.backbone import BackboneConfig, TinySpec
    from lit_agents.methods.seq2seq_qa import Seq2SeqQAModule

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fast", "--tiny", action="store_true", dest="fast")
    ap.add_argument("--augmentation", choices=["gotta", "minprompt", "none"], default="gotta")
    ap.add_argument("--lambda-aug", type=float, default=1.0)
    ap.add_argument("--root", default="runs/gotta_example")
    args = ap.parse_args(argv)
    L.seed_everything(0)
    root = Path(args.root)
    dm = FewShotQADataModule(num_examples=16, val_size=4 if args.fast else 16, augmentation=args.augmentation,
                             batch_size=2, eval_batch_size=8, cache_dir=str(root / "cache"))
    module = Seq2SeqQAModule(
        BackboneConfig(tiny=TinySpec(arch="t5", d_model=32 if args.fast else 64, d_ff=64 if args.fast else 128,
                                     tokenizer="byt5")),
        lambda_aug=args.lambda_aug, learning_rate=3e-3, max_source_length=256 if args.fast else 768,
        max_target_length=160 if args.fast else 320, max_new_tokens=8 if args.fast else 160)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=1 if args.fast else 8,
                        limit_train_batches=2 if args.fast else 1.0, limit_test_batches=1 if args.fast else 1.0,
                        num_sanity_val_steps=0, default_root_dir=root, enable_checkpointing=False,
                        enable_progress_bar=not args.fast, log_every_n_steps=1)
    trainer.fit(module, datamodule=dm)
    trainer.test(module, datamodule=dm)
    result = {k: float(v) for k, v in trainer.callback_metrics.items()}
    print(f"{args.augmentation}: {len(dm.aug_records)} augmented examples for {len(dm.train_records)} QA examples")
    print({k: round(v, 3) for k, v in sorted(result.items())})
    print("sentence graph:", plot_sentence_graph(root))
    return result


if __name__ == "__main__":
    main()
