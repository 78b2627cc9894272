"""The results runner: table and curves from finished runs, resumable runs through the real CLI, the registry."""

from __future__ import annotations

import json

import pytest

from lit_agents import results
from lit_agents.results import Comparison, commands, run_one, write_report


def _finished(root, comp, arm, seed, value, curve):
    run = root / comp.name / arm / f"seed{seed}"
    (run / "fit" / "v0").mkdir(parents=True)
    rows = "\n".join(f"{s},{v}," for s, v in curve)
    (run / "fit" / "v0" / "metrics.csv").write_text("step,train/loss,test/acc\n" + rows + "\n")
    (run / "done.json").write_text(json.dumps({"comparison": comp.name, "arm": arm, "seed": seed, "elapsed_s": 60.0,
                                               "metrics": {"test/acc": value}, "commands": [f"fit {arm} {seed}"]}))


def test_report_has_mean_std_per_arm_reference_and_curves(tmp_path):
    comp = Comparison(name="toy", title="Toy method", arms={"method": ["a.yaml"], "baseline": ["b.yaml"]},
                      metrics=[("test acc", "test/acc")], reference="| paper | 1.0 |", description="A toy.")
    for seed, v in ((1, 50.0), (2, 60.0)):
        _finished(tmp_path, comp, "method", seed, v, [(0, 3.0), (10, 1.0)])
    _finished(tmp_path, comp, "baseline", 1, 40.0, [(0, 3.0), (10, 2.0)])
    out = tmp_path / "docs" / "results.md"
    text = write_report([comp], tmp_path, [1, 2, 3], out)
    assert "| `method` | 1,2 | 55.0 ± 7.1 | 50.0, 60.0 |" in text
    assert "| `baseline` | 1 | 40.0 ± 0.0 | 40.0 |" in text
    assert "| paper | 1.0 |" in text and "fit method 1" in text and "3 runs" in text
    assert (tmp_path / "docs" / "img" / "results" / "toy_train_loss.png").stat().st_size > 1000
    assert "img/results/toy_train_loss.png" in text


def test_unrun_section_says_so_and_commands_carry_the_seed(tmp_path):
    comp = Comparison(name="toy", title="Toy", arms={"m": ["configs/sft.yaml"]}, metrics=[("acc", "test/acc")],
                      seed_keys=["data.seed"])
    assert "*Not run yet*" in write_report([comp], tmp_path, [1], tmp_path / "r.md")
    fit, test = commands(comp, "m", 7, tmp_path / "run")
    assert fit[fit.index("--seed_everything") + 1] == "7" and fit[fit.index("--data.seed") + 1] == "7"
    assert test[3] == "test" and "--ckpt_path" in test


def test_registry_has_the_showcases():
    results.load_sections()
    comp = results.COMPARISONS["gotta_minprompt"]
    assert set(comp.arms) == {"gotta", "gotta_random", "gotta_what", "minprompt", "minprompt_random", "fewshotqa"}


@pytest.mark.slow
def test_runs_through_the_cli_and_resumes(tmp_path):
    comp = Comparison(name="sft", title="SFT", arms={"sft": ["configs/sft.yaml"]}, metrics=[("loss", "train/loss")],
                      test=False, args=["--trainer.max_steps", "2", "--trainer.log_every_n_steps", "1",
                                        "--trainer.limit_val_batches", "0"])
    unfinished = tmp_path / "sft" / "sft" / "seed1"
    unfinished.mkdir(parents=True)
    (unfinished / "stale.txt").write_text("an interrupted run")
    first = run_one(comp, "sft", 1, tmp_path)  # not finished: started again from scratch
    assert first["metrics"]["train/loss"] > 0 and (unfinished / "done.json").is_file()
    assert not (unfinished / "stale.txt").exists()
    assert run_one(comp, "sft", 1, tmp_path) == first  # finished: skipped


def test_a_second_stage_loads_its_base_arms_export_at_the_same_seed(tmp_path):
    comp = Comparison(name="two", title="Two stages", arms={"s2": ["b.yaml"], "s1": ["a.yaml"]},
                      metrics=[("acc", "test/acc")], starts_from={"s2": "s1"})
    fit1 = commands(comp, "s1", 5, tmp_path / "two" / "s1" / "seed5")[0]
    fit2, test2 = commands(comp, "s2", 5, tmp_path / "two" / "s2" / "seed5")
    policy = str(tmp_path / "two" / "s1" / "seed5" / "policy")
    assert fit1[fit1.index("--model.init_args.export_dir") + 1] == policy
    for cmd in (fit2, test2):
        assert cmd[cmd.index("--model.init_args.backbone.name_or_path") + 1] == policy
    assert "--model.init_args.export_dir" not in fit2


def test_scale_shows_fractions_as_percentages(tmp_path):
    comp = Comparison(name="toy", title="Toy", arms={"m": ["a.yaml"]}, metrics=[("acc", "test/acc")], scale=100.0)
    for seed, v in ((1, 0.5), (2, 0.7)):
        _finished(tmp_path, comp, "m", seed, v, [(0, 1.0)])
    text = write_report([comp], tmp_path, [1, 2], tmp_path / "r.md")
    assert "| `m` | 1,2 | 60.0 ± 14.1 | 50.0, 70.0 |" in text


def test_registry_has_the_rm_r1_showcase():
    results.load_sections()
    comp = results.COMPARISONS["rm_r1"]
    assert set(comp.arms) == {"stage1_cor_grpo", "stage1_cor", "label_only_sft"}
    assert comp.starts_from == {"stage1_cor_grpo": "stage1_cor"}


def test_a_section_measured_elsewhere_is_kept_when_its_runs_are_absent(tmp_path):
    comp = Comparison(name="toy", title="Toy", arms={"m": ["a.yaml"]}, metrics=[("acc", "test/acc")])
    other = Comparison(name="new", title="New", arms={"m": ["b.yaml"]}, metrics=[("acc", "test/acc")])
    out = tmp_path / "docs" / "results.md"
    _finished(tmp_path / "elsewhere", comp, "m", 1, 70.0, [(0, 1.0)])
    write_report([comp], tmp_path / "elsewhere", [1], out)
    _finished(tmp_path, other, "m", 1, 40.0, [(0, 1.0)])
    text = write_report([comp, other], tmp_path, [1], out)  # toy's runs are not under this root
    assert "| `m` | 1 | 70.0 ± 0.0 | 70.0 |" in text and "| `m` | 1 | 40.0 ± 0.0 | 40.0 |" in text
    assert "*Not run yet*" not in text


def test_scale_turns_fractions_into_percentages_but_leaves_a_loss_as_logged(tmp_path):
    comp = Comparison(name="toy", title="Toy", arms={"m": ["a.yaml"]},
                      metrics=[("acc", "test/acc"), ("nll", "test/loss")], scale=100.0)
    for seed, (acc, loss) in ((1, (0.4, 0.9)), (2, (0.5, 0.7))):
        _finished(tmp_path, comp, "m", seed, acc, [(0, 1.0)])
        done = tmp_path / "toy" / "m" / f"seed{seed}" / "done.json"
        rec = json.loads(done.read_text())
        rec["metrics"]["test/loss"] = loss
        done.write_text(json.dumps(rec))
    text = write_report([comp], tmp_path, [1, 2], tmp_path / "r.md")
    assert "| `m` | 1,2 | 45.0 ± 7.1 | 0.80 ± 0.14 | 40.0, 50.0 |" in text


def test_registry_has_the_tinyllm_showcase():
    results.load_sections()
    comp = results.COMPARISONS["tinyllm"]
    assert set(comp.arms) == {"tinyllm", "distill_step_by_step", "standard_kd", "label_only"}
    assert not any("TinyLLM" in p for p in results.PENDING)


def test_registry_has_the_iteralign_showcase():
    results.load_sections()
    comp = results.COMPARISONS["iteralign"]
    assert set(comp.arms) == {"iteralign", "no_constitution", "base", "pretrain"}
    assert comp.starts_from == {a: "pretrain" for a in ("iteralign", "no_constitution", "base")}
    assert not any("IterAlign" in p for p in results.PENDING)
