"""IterAlign end to end with a plain Lightning Trainer: red-team a tiny policy with bundled DangerousQA, HarmfulQA
and hh-rlhf prompts, judge its answers, propose constitutions, self-reflect, SFT; TruthfulQA MC1 and HHH scores
before and after. Offline: refusal-keyword judge and the rule-based principle-bank proposer (swap in
``LLMJudge(OpenAIGenerator(...))`` and ``ConstitutionProposer(OpenAIGenerator(...))`` for GPT-3.5/GPT-4).

    python examples/iteralign.py            # 3 iterations of 8 prompts (about a minute on CPU)
    python examples/iteralign.py --fast     # seconds: 2 iterations of 2 prompts (used by the tests)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import lightning as L

from data_modules.alignment_eval import EvalSet
from data_modules.redteam import RedTeamDataModule
from data_modules.redteam_sources import RedTeamSource
from lit_agents.alignment.judges import RefusalKeywordJudge
from lit_agents.alignment.proposer import ConstitutionProposer, PrincipleBankGenerator
from lit_agents.backbone import BackboneConfig, TinySpec
from lit_agents.methods.iteralign import IterAlignModule, SamplingSpec


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fast", "--tiny", action="store_true", dest="fast")
    ap.add_argument("--root", default="runs/iteralign_example")
    args = ap.parse_args(argv)
    L.seed_everything(0)
    limit = 2 if args.fast else 8
    dm = RedTeamDataModule(
        sources=[RedTeamSource(path="iteralign/dangerousqa_head40.json", format="list"),
                 RedTeamSource(path="iteralign/harmfulqa_sample.json", format="nested"),
                 RedTeamSource(path="iteralign/hh_harmless_base_test_head48.jsonl", format="hh")],
        chunk_size=2 if args.fast else 8, max_steps_per_iteration=2 if args.fast else 4,
        eval_sets=[EvalSet(path="iteralign/truthfulqa_head40.csv", format="truthfulqa_csv", task="truthfulqa_mc1",
                           limit=limit)]
        + [EvalSet(path=f"iteralign/hhh_{c}_head10.task.json", task="hhh", category=c, limit=limit)
           for c in ("harmless", "helpful", "honest", "other")])
    sampling = SamplingSpec(max_new_tokens=8 if args.fast else 48, temperature=0.7, top_p=0.9)
    module = IterAlignModule(
        BackboneConfig(tiny=TinySpec(arch="llama", d_model=32 if args.fast else 64, d_ff=64 if args.fast else 128)),
        judge=RefusalKeywordJudge(),
        proposer=ConstitutionProposer(PrincipleBankGenerator(top_k=3), parse="list", retry_wait=0.0),
        learning_rate=1e-3, red_team_sampling=sampling, keep_revisions="all", sft_epochs=2, sft_batch_size=4)
    trainer = L.Trainer(max_epochs=2 if args.fast else 3, reload_dataloaders_every_n_epochs=1, accelerator="cpu",
                        devices=1, default_root_dir=args.root, num_sanity_val_steps=0, enable_checkpointing=False,
                        enable_progress_bar=not args.fast, log_every_n_steps=1)
    trainer.fit(module, datamodule=dm)
    out = Path(trainer.log_dir or args.root)
    print((out / "summary.md").read_text())
    for h in module.history:
        print(json.dumps({k: h[k] for k in ("iteration", "prompts", "bad", "asr_before", "asr_after", "sft_pairs",
                                            "sft_loss_mean", "constitutions")}))
    return module.history


if __name__ == "__main__":
    main()
