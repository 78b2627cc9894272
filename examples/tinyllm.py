"""TinyLLM end to end with a plain Lightning Trainer: the bundled OpenBookQA / ARC / RiddleSense sample with the
real FLAN-T5-xl + LLaMA-2-chat rationales -> a tiny T5 student trained on the answer and both teachers'
rationales -> accuracy per dataset (generation exact match and option ranking) on the test split.

    python examples/tinyllm.py            # the embedded default (a couple of minutes on CPU)
    python examples/tinyllm.py --fast     # seconds: a few steps, small evaluation (used by the tests)
"""

from __future__ import annotations

import argparse

import lightning as L

from data_modules.mcqa import MCQASource
from data_modules.mcqa_distill import MCQADistillDataModule
from data_modules.rationales import PreCollectedRationales
from lit_agents.backbone import BackboneConfig, TinySpec
from lit_agents.methods.distillation import DistillationModule


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fast", "--tiny", dest="tiny", action="store_true", help="seconds: a few steps (tests)")
    ap.add_argument("--root", default="runs/tinyllm_example")
    ap.add_argument("--alpha", type=float, default=1.0, help="α, the weight of each teacher's rationale loss")
    args = ap.parse_args(argv)
    L.seed_everything(0)
    n_eval = 4 if args.tiny else None
    datasets = [MCQASource(name=ds, train=f"samples:tinyllm/{ds}/{ds}_train.json",
                           val=f"samples:tinyllm/{ds}/{ds}_valid.json", test=f"samples:tinyllm/{ds}/{ds}_test.json",
                           max_train=16 if args.tiny else None, max_eval=n_eval) for ds in ("obqa", "arc", "riddle")]
    teachers = [PreCollectedRationales("flan-t5-xl", teacher="flan_t5"),
                PreCollectedRationales("llama-2-chat", teacher="llama")]
    dm = MCQADistillDataModule(datasets, teachers=teachers, cache_dir=f"{args.root}/cache", batch_size=8,
                               eval_batch_size=12)
    student = BackboneConfig(tiny=TinySpec(arch="t5", d_model=32 if args.tiny else 64, n_layers=2, n_heads=4,
                                           d_ff=64 if args.tiny else 128, tokenizer="byt5"))
    model = DistillationModule(student, teacher_prefixes=["explain: ", "rationale: "],
                               teacher_weights=[args.alpha, args.alpha], max_input_length=512,
                               max_target_length=64 if args.tiny else 256, max_label_length=16 if args.tiny else 96,
                               option_score="mean", learning_rate=3e-3, warmup_steps=5, scheduler="cosine")
    trainer = L.Trainer(max_epochs=1 if args.tiny else 2, max_steps=3 if args.tiny else -1, accelerator="cpu",
                        devices=1, logger=False, enable_checkpointing=False, default_root_dir=args.root,
                        num_sanity_val_steps=0, limit_val_batches=1 if args.tiny else None,
                        enable_progress_bar=not args.tiny, enable_model_summary=not args.tiny)
    trainer.fit(model, datamodule=dm)
    result = trainer.test(model, datamodule=dm, verbose=not args.tiny)[0]
    print({k: round(float(v), 4) for k, v in sorted(result.items())})
    return result


if __name__ == "__main__":
    main()
