"""Sweep helper: grid expansion, reading CSV logs, mean ± std tables."""

import pytest

from lit_agents.sweep import aggregate, grid_points, main, mean_std, summarise_run, to_markdown


def _metrics(path, rows):
    path.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for r in rows for k in r})
    lines = [",".join(keys)] + [",".join(str(r.get(k, "")) for k in keys) for r in rows]
    (path / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_grid_and_ties():
    pts = grid_points({"data.sample_seed": ["42", "43"], "data.num_examples": ["16", "32"]},
                      {"data.val_size": "data.num_examples"})
    assert len(pts) == 4 and all(p["data.val_size"] == p["data.num_examples"] for p in pts)


def test_summary_reads_best_val_and_last_test(tmp_path):
    _metrics(tmp_path / "fit" / "v0", [{"step": 1, "val/f1": 10.0}, {"step": 2, "train/loss": 3.0},
                                       {"step": 3, "val/f1": 30.0}, {"step": 4, "val/f1": 20.0}])
    _metrics(tmp_path / "test" / "v0", [{"step": 4, "test/f1": 25.0}])
    assert summarise_run(tmp_path, ["f1", "em"]) == {"val/f1": 30.0, "test/f1": 25.0}


def test_mean_std_and_markdown():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0) and mean_std([5.0]) == (5.0, 0.0)
    rows = [{"k": "16", "s": s, "test/f1": f} for s, f in (("42", 70.0), ("43", 74.0))] + [
        {"k": "32", "s": "42", "test/f1": 80.0}]
    agg = aggregate(rows, ["k"], ["test/f1"])
    assert agg[0]["test/f1 mean"] == 72.0 and agg[0]["test/f1 std"] == pytest.approx(2.8284, rel=1e-4)
    md = to_markdown(agg, ["k"], ["test/f1", "val/f1"])
    assert "| 16 | 72.0 ± 2.8 | - |" in md and "| 32 | 80.0 ± 0.0 | - |" in md


def test_dry_run_prints_one_fit_per_point(capsys, tmp_path):
    main(["--config", "configs/gotta.yaml", "--grid", "data.sample_seed=42,43", "--grid", "data.num_examples=16",
          "--out", str(tmp_path), "--dry-run", "--", "--trainer.max_epochs", "1"])
    lines = [x for x in capsys.readouterr().out.splitlines() if " fit " in x]
    assert len(lines) == 2 and "--seed_everything 43" in lines[1] and lines[0].endswith("--trainer.max_epochs 1")


def test_dry_run_with_test_prints_each_test_command(capsys, tmp_path):
    """Issue 14 item 11: ``--dry-run --test`` shows the test commands too, after their fit."""
    main(["--config", "configs/gotta.yaml", "--grid", "data.sample_seed=42,43", "--out", str(tmp_path),
          "--dry-run", "--test", "--", "--trainer.max_epochs", "1"])
    lines = capsys.readouterr().out.splitlines()
    kinds = [("fit" if " fit " in x else "test") for x in lines if " fit " in x or " test " in x]
    assert kinds == ["fit", "test", "fit", "test"]
    test = [x for x in lines if " test " in x][1]
    assert "--seed_everything 43" in test and f"{tmp_path}/sample_seed43/fit" in test
    assert "--ckpt_path" in test and test.endswith("--trainer.max_epochs 1") and not (tmp_path / "summary.md").exists()
