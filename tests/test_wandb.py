"""The W&B fragment runs offline with no account and never writes a secret it was given."""

from tests.helpers import run_cli


def test_wandb_offline_run_keeps_secrets_out(tmp_path):
    secret = "sk-test-THIS-MUST-NOT-LEAK-1234567890"
    run_cli(["fit", "--config", "configs/sft.yaml", "--config", "configs/trainer/wandb.yaml",
             "--trainer.logger.init_args.save_dir", str(tmp_path), "--trainer.max_steps", "2",
             "--trainer.limit_val_batches", "1", "--data.init_args.max_train_records", "16",
             "--model.init_args.num_val_samples", "1", "--model.init_args.val_max_new_tokens", "4"],
            tmp_path, env={"WANDB_MODE": "offline", "OPENAI_API_KEY": secret, "WANDB_API_KEY": ""})
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert runs, "no offline W&B run was written"
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f"secret leaked into {f}"
