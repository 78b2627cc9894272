"""Student training throughput (examples/s): our TinyLLM module under Lightning vs the Hugging Face
``Seq2SeqTrainer`` doing the same multi-task objective (the released TinyLLM code subclasses it the same way:
one forward per task, ``γ·L_label + Σ α_m·L_Tm``). Same tiny T5, same bundled examples and rationales, same
batch size, AdamW, same sequence limits. Prints the ratio (ours / HF; > 1 means we are faster).

    python benchmarks/tinyllm_vs_seq2seq_trainer.py [--steps 30] [--batch-size 8] [--rounds 2] [--quick]

The two sides alternate for ``--rounds`` rounds and the best round of each counts. Throughput is reported per
wall-clock second and per CPU second of this process (the latter is stable on a shared machine, where other
jobs steal wall time; with one thread both agree on an idle machine). Ours runs each task's rows as forwards of
similar length (``DistillationModule.group_by_length``, the default); the loss is the same token mean.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import Result, emit  # noqa: E402

from data_modules.mcqa import MCQASource  # noqa: E402
from data_modules.mcqa_distill import MCQADistillDataModule  # noqa: E402
from data_modules.rationales import PreCollectedRationales  # noqa: E402
from lit_agents.backbone import BackboneConfig, TinySpec  # noqa: E402
from lit_agents.methods.distillation import DistillationModule  # noqa: E402

PREFIXES = {"label": "predict: ", "flan-t5-xl": "explain: ", "llama-2-chat": "rationale: "}


def records(cache: str) -> tuple[MCQADistillDataModule, list[dict]]:
    srcs = [MCQASource(name=d, train=f"samples:tinyllm/{d}/{d}_train.json") for d in ("obqa", "arc", "riddle")]
    dm = MCQADistillDataModule(srcs, teachers=[PreCollectedRationales("flan-t5-xl", teacher="flan_t5"),
                                               PreCollectedRationales("llama-2-chat", teacher="llama")],
                               cache_dir=cache)
    dm.prepare_data()
    dm.setup("fit")
    return dm, dm.splits["train"]


def student(seed: int = 0) -> DistillationModule:
    torch.manual_seed(seed)
    return DistillationModule(BackboneConfig(tiny=TinySpec(arch="t5", d_model=64, n_layers=2, n_heads=4, d_ff=128)),
                              max_input_length=512, max_target_length=256, max_label_length=96, learning_rate=1e-3,
                              eval_generate=False, eval_rank=False)


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _rate(n: int, t0: tuple[float, float], t1: tuple[float, float]) -> tuple[float, float]:
    """(examples per wall second, examples per CPU second)."""
    return n / (t1[0] - t0[0]), n / (t1[1] - t0[1])


class _Timer(L.Callback):
    def __init__(self, warmup: int):
        self.warmup, self.t0, self.t1 = warmup, None, None

    def on_train_batch_start(self, trainer, *a):
        if trainer.global_step == self.warmup:
            self.t0 = _now()

    def on_train_end(self, trainer, *a):
        self.t1 = _now()


def ours(dm: MCQADistillDataModule, steps: int, warmup: int, bs: int) -> tuple[float, float]:
    dm.batch_size = bs
    timer = _Timer(warmup)
    trainer = L.Trainer(max_steps=steps + warmup, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, callbacks=[timer])
    m = student()
    m.teacher_names = ["flan-t5-xl", "llama-2-chat"]
    trainer.fit(m, train_dataloaders=dm.train_dataloader())
    return _rate(steps * bs, timer.t0, timer.t1)


def hf(recs: list[dict], steps: int, warmup: int, bs: int) -> tuple[float, float]:
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments, TrainerCallback

    m = student()  # the same tiny T5 and tokenizer; HF trains m.model directly
    tok, model = m.tokenizer, m.model

    def collate(batch):  # tokenise every task of the batch, as TinyLLM's TaskPrefixDataCollator does
        out = {}
        for task, prefix in PREFIXES.items():
            if task == "label":
                rows, targets = batch, [r["target"] for r in batch]
            else:
                t = list(PREFIXES).index(task) - 1
                rows = [r for r in batch if r["rationales"][t]]
                targets = [r["rationales"][t] for r in rows]
            if not rows:
                continue
            enc = tok([prefix + r["input"] for r in rows], max_length=512, truncation=True, padding=True,
                      return_tensors="pt")
            lab = tok(text_target=targets, max_length=96 if task == "label" else 256, truncation=True,
                      padding=True, return_tensors="pt")
            enc["labels"] = lab["input_ids"].masked_fill(lab["attention_mask"] == 0, -100)
            out[task] = dict(enc)
        return out

    class TaskPrefixTrainer(Seq2SeqTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = sum(model(**inputs[t]).loss for t in inputs)  # γ = α_m = 1
            return (loss, None) if return_outputs else loss

    class Clock(TrainerCallback):
        t0 = t1 = None

        def on_step_begin(self, args, state, control, **kw):
            if state.global_step == warmup:
                Clock.t0 = _now()

        def on_train_end(self, args, state, control, **kw):
            Clock.t1 = _now()

    with tempfile.TemporaryDirectory() as out:
        args = Seq2SeqTrainingArguments(output_dir=out, per_device_train_batch_size=bs, max_steps=steps + warmup,
                                        learning_rate=1e-3, report_to=[], save_strategy="no", logging_strategy="no",
                                        remove_unused_columns=False, use_cpu=True, dataloader_num_workers=0,
                                        disable_tqdm=True, seed=0)
        TaskPrefixTrainer(model=model, args=args, train_dataset=recs, data_collator=collate,
                          callbacks=[Clock()]).train()
    return _rate(steps * bs, Clock.t0, Clock.t1)


def main(argv: list[str] | None = None) -> list[Result]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="a seconds-long smoke run (2 steps, batch 2, 1 round)")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.batch_size, args.rounds = 2, 1, 2, 1
    torch.set_num_threads(1)
    a, b = [], []
    with tempfile.TemporaryDirectory() as cache:
        dm, recs = records(cache)
        for _ in range(args.rounds):
            a.append(ours(dm, args.steps, args.warmup, args.batch_size))
            b.append(hf(recs, args.steps, args.warmup, args.batch_size))
    (aw, ac), (bw, bc) = (max(x[0] for x in a), max(x[1] for x in a)), (max(x[0] for x in b), max(x[1] for x in b))
    print(f"tinyllm student, batch {args.batch_size}, {args.steps} timed steps x {args.rounds} rounds, 3 tasks/example")
    print(f"  {'':24s} {'examples/s (wall)':>18s} {'examples/CPU-s':>15s}")
    print(f"  {'lit-agents (Lightning)':24s} {aw:18.2f} {ac:15.2f}")
    print(f"  {'HF Seq2SeqTrainer':24s} {bw:18.2f} {bc:15.2f}")
    print(f"  {'ratio ours/HF':24s} {aw / bw:18.2f} {ac / bc:15.2f}")
    res = [Result("tinyllm_vs_seq2seq_trainer", "student examples per CPU-s", ac, bc, "HF Seq2SeqTrainer", goal=1.3),
           Result("tinyllm_vs_seq2seq_trainer", "student examples per wall-s", aw, bw, "HF Seq2SeqTrainer")]
    emit(*res)
    return res


if __name__ == "__main__":
    main()
