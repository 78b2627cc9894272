"""Compose SFT in a script: build the DataModule and the module in Python, train with a plain Trainer.

    python examples/sft.py            # tiny Llama on the bundled OpenBookQA rationales, CPU
    python examples/sft.py --fast     # a few steps (what the test runs)
"""

import argparse

import lightning as L

from data_modules.sft import SFTDataModule
from lit_agents.backbone import BackboneConfig, TinySpec
from lit_agents.checkpoint_io import AtomicCheckpointIO, ResumableRNG
from lit_agents.guards import NonFiniteLossGuard
from lit_agents.methods.sft import SFTModule


def main(fast: bool = False, root: str = "runs/examples/sft") -> dict:
    L.seed_everything(0)
    data = SFTDataModule(batch_size=8, max_train_records=32 if fast else None)
    model = SFTModule(BackboneConfig(tiny=TinySpec(arch="llama", d_model=64, n_layers=2, n_heads=4, d_ff=128)),
                      learning_rate=3e-3, max_length=256, num_val_samples=2, val_max_new_tokens=16)
    # what `lit-agents fit` adds to every run: exact resume, a NaN/inf loss guard, atomic weights_only checkpoints
    trainer = L.Trainer(max_steps=4 if fast else 60, accelerator="cpu", default_root_dir=root,
                        limit_val_batches=1 if fast else None, log_every_n_steps=2,
                        callbacks=[ResumableRNG(), NonFiniteLossGuard()], plugins=[AtomicCheckpointIO()])
    trainer.fit(model, datamodule=data)
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--fast", action="store_true")
    ap.add_argument("--root", default="runs/examples/sft")
    args = ap.parse_args()
    print(main(args.fast, args.root))
