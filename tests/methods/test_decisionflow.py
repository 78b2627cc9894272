"""DecisionFlow: High/Low/Bias on a hand-made set, JSON parsing with bounded repair, the pipeline and its
ablations end to end over HTTP (the project's OpenAI-compatible server), and the embedded config against the
server with a tiny model, including a killed and resumed collection."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from data_modules.mta import MTADataModule, alignment_scores, load_mta
from lit_agents.fileio import DataError
from lit_agents.generation import OpenAIGenerator, TextGenerator, TransformersGenerator
from lit_agents.methods.decisionflow import (
    DecisionFlowModule,
    majority_vote,
    utility_argmax,
    validate_choice,
    validate_matrix,
)
from lit_agents.serve import OpenAICompatibleServer
from lit_agents.structured import JSONCaller, extract_json
from tests.helpers import REPO, run_cli, tiny_backbone

# four hand-made items: (attribute, per-choice scores)
ITEMS = [("fairness", [0.0, 10.0]), ("fairness", [10.0, 0.0]), ("risk_aversion", [0.0, 10.0]),
         ("utilitarianism", [10.0, 10.0, 0.0, 5.0, 0.0])]


def _write_items(path, items=ITEMS):
    data = [[{"scenario_id": n, "scenario": f"Scenario {n}.", "state": None, "probe": "What do you do?",
              "choices": [f"option {chr(97 + k)}" for k in range(len(scores))]},
             [{attr: s} for s in scores]] for n, (attr, scores) in enumerate(items)]
    path.write_text(json.dumps(data))
    return str(path)


def test_high_low_bias_on_a_hand_made_four_item_set(tmp_path):
    recs = load_mta(_write_items(tmp_path / "mta.json"))
    assert [r["gold"] for r in recs] == [[1], [0], [0], [1], [1], [0], [0, 1], [2, 4]]
    preds = {(0, "high"): 1, (0, "low"): 1, (1, "high"): 0, (1, "low"): 1, (2, "high"): None, (2, "low"): 0,
             (3, "high"): 1, (3, "low"): 3}
    results = [{**r, "prediction": preds[(int(r["item_id"].split(":")[0]), r["target"])]} for r in recs]
    s = alignment_scores(results)
    assert (s["high_acc"], s["low_acc"], s["bias"]) == (0.75, 0.5, 0.25)
    assert (s["fairness/high_acc"], s["fairness/low_acc"], s["fairness/bias"]) == (1.0, 0.5, 0.5)
    assert (s["risk_aversion/high_acc"], s["risk_aversion/low_acc"], s["risk_aversion/bias"]) == (0.0, 1.0, -1.0)
    assert (s["utilitarianism/high_acc"], s["utilitarianism/low_acc"]) == (1.0, 0.0)
    assert s["unanswered"] == 1 / 8 and s["n"] == 8


def test_mta_reader_locates_bad_items_and_reads_both_sets(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps([[{"scenario": "s", "probe": "q", "choices": ["a", "b"]}, [{"fairness": 0.0}]]]))
    with pytest.raises(DataError, match="1 labels for 2 choices"):
        load_mta(str(p))
    assert load_mta(str(p), on_error="skip") == []
    dm = MTADataModule()
    dm.setup("test")
    assert len(dm.test_records) == 16 and {r["target"] for r in dm.test_records} == {"high", "low"}
    assert len({r["attribute"] for r in dm.test_records}) == 6
    itm = load_mta(str(REPO / "data_modules/samples/mta/paper-dataset-1-12_sample.json"))
    assert len({r["item_id"] for r in itm}) == 6  # the same probe under two attributes = two items


def test_extract_json_tolerates_prose_fences_and_python_literals():
    assert extract_json('Sure! ```json\n{"choice": 2}\n``` done') == {"choice": 2}
    assert extract_json('I think {"a": 1} but finally {"choice": 1, "r": "x}y",}') == {"choice": 1, "r": "x}y"}
    assert extract_json("{'keep': ['fairness'], 'ok': True}") == {"keep": ["fairness"], "ok": True}
    assert extract_json('He said "hi {" then {"x": {"y": 1}}') == {"x": {"y": 1}}
    for bad in ("no json here", '{"choice": }'):
        with pytest.raises(ValueError):
            extract_json(bad)


class Scripted(TextGenerator):
    """A deterministic rule-based LLM: answers each DecisionFlow prompt from its text (a real TextGenerator
    served over HTTP below). The first answer to every step-1 prompt is broken JSON, to exercise repair."""

    def __init__(self):
        super().__init__()

    def identity(self):
        return {"type": "scripted"}

    def _stream(self, prompts, params):
        for i, p in enumerate(prompts):
            text = p if isinstance(p, str) else "\n".join(m["content"] for m in p)
            yield i, self.answer(text)

    @staticmethod
    def answer(t: str) -> str:
        n = len(re.findall(r"^\(\d+\) ", t, re.M))
        attr = (re.search(r'Always include the attribute "([^"]+)"', t) or re.search(r'"attributes": \["([^"]+)"', t)
                or re.search(r'"([a-z_ ]+)": \d+', t) or re.search(r"(?:has|with) (?:high|low) ([a-z ]+?) \(", t))
        high = bool(re.search(r"(?:has|with|is:) high ", t))
        name = attr.group(1) if attr else "x"
        if t.startswith("Your previous answer could not be parsed"):
            return json.dumps({"variables": [{"name": "patient", "facts": "injured"}], "actions": ["(1)", "(2)"]})
        if "Step 1 - decision variables" in t:
            return '{"variables": [{"name": "patient"}], "actions": ["(1)", '  # cut short
        if "Step 2 - attributes" in t:
            return json.dumps({"attributes": [{"name": name}, {"name": "noise"}], "constraints": ["time"]})
        if "Step 3 - decision matrix" in t:
            m = {str(k + 1): {name: 10 if k == 0 else 0, "noise": 0 if k == 0 else 10} for k in range(n)}
            return "Here it is: " + json.dumps({"matrix": m})
        if "Step 3b - filtering" in t:
            return json.dumps({"keep": [name]})
        if "Step 4 - utility" in t:
            return json.dumps({"weights": {name: 1.0 if high else -1.0, "noise": 0.05}})
        if "Step 4 - decision without" in t:
            return json.dumps({"choice": 1 if high else 2})
        if "Write a short rationale" in t:
            return "The chosen action scores best under the inferred weights."
        if "In one answer" in t:
            return json.dumps({"choice": 1 if high else 2, "rationale": "joint"})
        return json.dumps({"reasoning": "always the first", "choice": 1})  # zero-shot / CoT


@pytest.fixture()
def scripted_server():
    srv = OpenAICompatibleServer(Scripted(), model_name="scripted").start()
    yield srv
    srv.stop()


def _module(srv, tmp_path, **kw):
    gen = OpenAIGenerator("scripted", srv.url, max_retries=0, max_new_tokens=64)
    return DecisionFlowModule(gen, cache_path=str(tmp_path / "cache.jsonl"), **kw)


@pytest.mark.parametrize("kw,high,low", [({}, 1.0, 1.0), ({"filtering": False}, 1.0, 1.0),
                                         ({"scoring": False}, 1.0, 1.0), ({"method": "joint"}, 1.0, 1.0),
                                         ({"method": "zero_shot"}, 1.0, 0.0), ({"method": "cot"}, 1.0, 0.0),
                                         ({"method": "self_consistency", "num_samples": 3}, 1.0, 0.0)])
def test_pipeline_and_baselines_over_http(kw, high, low, scripted_server, tmp_path):
    recs = load_mta(_write_items(tmp_path / "mta.json", [("fairness", [10.0, 0.0]), ("risk_aversion", [10.0, 0.0])]))
    module = _module(scripted_server, tmp_path, **kw)
    preds = module.decide(recs)
    s = alignment_scores(preds)
    assert (s["high_acc"], s["low_acc"]) == (high, low)
    if kw == {}:
        p = preds[0]
        assert p["decision_matrix"] == {"1": {"fairness": 10.0, "noise": 0.0}, "2": {"fairness": 0.0, "noise": 10.0}}
        assert p["kept_attributes"] == ["fairness"] and p["rationale"].startswith("The chosen action")
        # step 1 answered broken JSON once per unique prompt (2 items; shared by high and low): 2 repairs, whose
        # prompts are identical here (same broken answer) and so sent once; then 2 + 2 target-free calls
        # (attributes, matrix) and 4 + 4 + 4 per target (filtering, utility, rationale)
        assert module.stats.as_dict() == {"calls": 2 + 1 + 2 + 2 + 4 + 4 + 4, "parse_failures": 2, "repairs": 2,
                                          "unrecovered": 0}
    if kw.get("method") == "self_consistency":
        assert preds[0]["votes"] == [0, 0, 0]


def test_validators_and_utility():
    m = validate_matrix({"matrix": {"(1)": {"a": 12, "b": 1}, "2": {"a": 0, "b": 9}}}, 2)
    assert m == {0: {"a": 10.0, "b": 1.0}, 1: {"a": 0.0, "b": 9.0}}  # scores clipped to [0, 10]
    with pytest.raises(ValueError, match="missing for choices \\[2\\]"):
        validate_matrix({"matrix": {"1": {"a": 1}}}, 2)
    assert utility_argmax(m, {"a": -1.0, "b": 0.5}) == (1, {0: -9.5, 1: 4.5})
    assert utility_argmax(m, {"a": -1.0, "b": 0.5}, keep=["a"])[0] == 1
    assert validate_choice({"choice": "(2)"}, 2) == 1
    with pytest.raises(ValueError):
        validate_choice({"choice": 3}, 2)
    assert majority_vote([1, 0, None, 1, 0]) == 0 and majority_vote([None]) is None


def test_bounded_repair_counts_every_failure(reliability_log):
    class Broken(TextGenerator):
        def identity(self):
            return {"type": "broken"}

        def _stream(self, prompts, params):
            yield from ((i, "not json") for i in range(len(prompts)))

    caller = JSONCaller(Broken(), max_repairs=2)
    parsed, raw = caller.json(["a", "b", "a"], shape="{}")
    assert parsed == [None, None, None] and raw == ["not json"] * 3
    # 2 unique prompts, each parsed 3 times (answer + 2 repairs); the duplicate prompt is sent and parsed once;
    # both repair prompts of a round are identical (same answer, same error) and so sent once
    assert caller.stats.as_dict() == {"calls": 2 + 1 + 1, "parse_failures": 6, "repairs": 4, "unrecovered": 2}
    reliability_log("bad input", "DecisionFlow: LLM step answers that are never valid JSON",
                    "max_repairs repair prompts, every failed parse counted, the item left undecided (counted wrong)")


@pytest.fixture(scope="module")
def tiny_server():
    srv = OpenAICompatibleServer(TransformersGenerator(tiny_backbone("llama")), model_name="local").start()
    yield srv
    srv.stop()


def _cli_args(srv, root, limit):
    return ["test", "--config", "configs/decisionflow.yaml", "--model.init_args.generator.init_args.base_url", srv.url,
            "--model.init_args.cache_path", str(root / "cache.jsonl"), "--data.init_args.limit", str(limit),
            "--model.init_args.max_new_tokens", "8", "--trainer.default_root_dir", str(root)]


@pytest.mark.slow
def test_embedded_config_runs_against_the_test_server(tiny_server, tmp_path):
    run_cli(_cli_args(tiny_server, tmp_path, 2), tmp_path)
    metrics = json.loads(next(tmp_path.rglob("test_decisionflow_metrics.json")).read_text())
    lines = next(tmp_path.rglob("test_decisionflow_predictions.jsonl")).read_text().splitlines()
    preds = [json.loads(x) for x in lines]
    assert len(preds) == 4 and metrics["n"] == 4
    # a random model never writes valid JSON: every answer is counted, repaired twice, then given up
    assert metrics["parse/unrecovered"] == 2 and metrics["parse/parse_failures"] == 6 and metrics["unanswered"] == 1.0
    assert all(p["steps_failed"] == ["variables"] for p in preds)


@pytest.mark.slow
def test_killed_collection_resumes_without_repeating_a_call(tiny_server, tmp_path, reliability_log):
    cache = tmp_path / "cache.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    cmd = [sys.executable, "-m", "lit_agents.cli", *_cli_args(tiny_server, tmp_path, 4)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 240
    while not cache.exists() or len(cache.read_bytes().splitlines()) < 2:  # two calls finished and saved
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.time() < deadline, "timed out waiting for the first calls"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = len(cache.read_text().splitlines())
    assert kept >= 1
    # the server still answers the requests the killed client had in flight (nobody receives them): wait
    # until it is idle, so that `before` counts only the re-run's requests
    seen = -1
    while seen != tiny_server.requests_served:
        seen = tiny_server.requests_served
        time.sleep(1.5)
    before = tiny_server.requests_served
    run_cli(_cli_args(tiny_server, tmp_path, 4), tmp_path)
    lines = [json.loads(x) for x in cache.read_text().splitlines()]
    # 4 step-1 prompts (each shared by the item's high and low record) plus their repair prompts
    assert len(lines) >= 4 + 1 and kept < len(lines)  # the kill landed mid-collection
    assert len({x["key"] for x in lines}) == len(lines)  # no call answered twice
    assert tiny_server.requests_served - before == len(lines) - kept  # the re-run sent only the missing calls
    reliability_log("collection", "DecisionFlow, `lit-agents test` against the OpenAI-compatible server SIGKILLed "
                    "mid-collection, then re-run", "resumes from the LLM cache; every cached call unique; the re-run "
                    "sends only the missing calls")
