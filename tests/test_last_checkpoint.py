"""``last.ckpt`` is the final model for every shipped config's checkpoint settings, and the best-by-validation
checkpoint is a separate file (issue 19: with ``monitor: val/loss`` Lightning left ``last.ckpt`` at step 280 of
600)."""

from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from lightning.pytorch.demos.boring_classes import BoringModel

from lit_agents.checkpointing import FinalLastCheckpoint

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (REPO / "configs").rglob("*.yaml") if "trainer" not in p.parts)
CLI_DEFAULTS = {"save_last": True, "save_top_k": 1}          # lit_agents.cli.LitAgentsCLI.add_arguments_to_parser


class WorseningModel(BoringModel):
    """Logs ``monitor`` at every validation, getting worse each time, so the monitor improves only once."""

    def __init__(self, monitor: str | None, mode: str):
        super().__init__()
        self.monitor, self.sign, self.n_val = monitor, 1.0 if mode == "min" else -1.0, 0

    def validation_step(self, batch, batch_idx):
        return None

    def on_validation_epoch_end(self):
        self.n_val += 1
        if self.monitor:
            self.log(self.monitor, torch.tensor(self.sign * self.n_val, dtype=torch.float32))


def _settings(path: Path) -> tuple[dict, dict]:
    cfg = yaml.safe_load(path.read_text()) or {}
    return {**CLI_DEFAULTS, **(cfg.get("checkpoint") or {})}, cfg.get("trainer") or {}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(REPO / "configs")))
def test_last_ckpt_is_the_final_model(path, tmp_path):
    ckpt_args, trainer_cfg = _settings(path)
    model = WorseningModel(ckpt_args.get("monitor"), ckpt_args.get("mode", "min"))
    cb = FinalLastCheckpoint(dirpath=tmp_path, **{k: v for k, v in ckpt_args.items() if k != "dirpath"})
    # 4 batches an epoch, validation as the config asks (every epoch at most 2 apart), and a last step that
    # falls between validations: stock ModelCheckpoint leaves last.ckpt at an older step here when monitoring
    every = min(int(trainer_cfg.get("check_val_every_n_epoch") or 1), 2)
    trainer = L.Trainer(accelerator="cpu", max_steps=4 * 2 * every + 3, limit_train_batches=4, limit_val_batches=1,
                        check_val_every_n_epoch=every, callbacks=[cb], logger=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(model)
    last = tmp_path / "last.ckpt"
    state = torch.load(last, weights_only=True)
    assert state["global_step"] == trainer.global_step == 4 * 2 * every + 3
    final = model.state_dict()
    assert all(torch.equal(final[k], state["state_dict"][k]) for k in final)
    others = [p for p in tmp_path.glob("*.ckpt") if p.name != "last.ckpt"]
    if ckpt_args.get("monitor") and (ckpt_args.get("every_n_train_steps") or 0) <= trainer.global_step:
        assert model.n_val >= 2 and len(others) == 1             # the best (first) validation, a separate file
        assert torch.load(others[0], weights_only=True)["global_step"] < trainer.global_step
        assert Path(cb.best_model_path) == others[0]


def test_stock_model_checkpoint_would_leave_a_stale_last(tmp_path):
    """The defect this guards against, shown on Lightning's own callback (so the test above can fail)."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    cb = ModelCheckpoint(dirpath=tmp_path, monitor="val/loss", mode="min", save_last=True, save_top_k=1)
    trainer = L.Trainer(accelerator="cpu", max_steps=11, limit_train_batches=4, limit_val_batches=1, callbacks=[cb],
                        logger=False, enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(WorseningModel("val/loss", "min"))
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["global_step"] < 11
