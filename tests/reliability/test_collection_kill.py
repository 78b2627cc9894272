"""Collections killed mid-write: the real ``lit-agents fit`` run (TinyLLM rationales, RM-R1 traces, IterAlign
LLM judge) collects from an OpenAI-compatible server on 127.0.0.1 that answers slowly, and is SIGKILLed while
the collection is in progress; then the last cache record is torn in half, as a kill in the middle of a write
leaves it. The re-run of the same command must complete, ask the server only for the calls not in the cache,
and leave cache and derived files (processed rationales, traces + stats, IterAlign reports) without duplicated
or corrupted records.

The killed run is the CLI in a forked child process (fork: no second interpreter start-up, so the test stays
cheap; the process is killed with SIGKILL as a real one would be). The re-run is the CLI in this process.
The server's model is a stand-in (fixed replies) for the remote LLM, which does not run here.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import textwrap
import time
from pathlib import Path

import pytest

from data_modules.io import samples_dir
from data_modules.preference import PreferenceSource
from data_modules.rm_r1_traces import TraceDistillDataModule
from lit_agents.alignment.report import write_outputs
from lit_agents.cli import run_cli
from lit_agents.generation import OpenAIGenerator, TextGenerator
from lit_agents.serve import OpenAICompatibleServer

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork (POSIX)")


class SlowReply(TextGenerator):
    """The server's model: ``reply(prompt)`` after ``delay`` seconds (the delay makes room for the kill)."""

    def __init__(self, reply, delay: float):
        super().__init__()
        self.reply, self.delay = reply, delay

    def _stream(self, prompts, params):
        for i, p in enumerate(prompts):
            time.sleep(self.delay)
            yield i, self.reply(p)

    def identity(self) -> dict:
        return {"type": "slow-reply"}


@pytest.fixture()
def slow_server():
    started = []

    def start(reply, delay: float = 0.25) -> OpenAICompatibleServer:
        srv = OpenAICompatibleServer(SlowReply(reply, delay), model_name="remote").start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def _cli_child(args: list[str]) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    run_cli(args)


def _records(path: Path) -> int:
    """Complete (newline-terminated) records in a JSONL file."""
    return path.read_bytes().count(b"\n") if path.exists() else 0


def kill_mid_collection(args: list[str], cache: Path, min_records: int, timeout: float = 120.0) -> None:
    """Run ``lit-agents <args>`` in a child process and SIGKILL it once ``cache`` holds ``min_records``."""
    proc = multiprocessing.get_context("fork").Process(target=_cli_child, args=(args,), daemon=True)
    proc.start()
    deadline = time.monotonic() + timeout
    try:
        while _records(cache) < min_records:
            assert proc.is_alive(), f"the run ended (exit code {proc.exitcode}) before it had collected anything"
            assert time.monotonic() < deadline, "the collection did not start in time"
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
    assert proc.exitcode == -signal.SIGKILL


def tear_last_record(path: Path) -> int:
    """Cut the last record in half (a kill in the middle of its write); returns the complete records left."""
    data = path.read_bytes()
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(data[:start + (len(data) - start) // 2])
    return data[:start].count(b"\n")


def settle(srv: OpenAICompatibleServer, quiet: float = 0.4) -> int:
    """Wait until the server is idle (a request the killed run had in flight is finished); returns the count
    of requests it answered."""
    srv.generator.delay = 0.0
    last, since = srv.requests_served, time.monotonic()
    while time.monotonic() - since < quiet:
        time.sleep(0.05)
        if srv.requests_served != last or srv.lock.locked():
            last, since = srv.requests_served, time.monotonic()
    return last


def cache_rows(path: Path) -> list[dict]:
    """Every line parses, no key twice."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert all(set(r) == {"key", "prompt", "output"} for r in rows)
    assert len({r["key"] for r in rows}) == len(rows), f"duplicate records in {path}"
    return rows


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def no_temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp" in p.name]


def _yaml(path: Path, text: str) -> str:
    path.write_text(textwrap.dedent(text))
    return str(path)


# ---------------------------------------------------------------- TinyLLM: lit-agents fit --config tinyllm.yaml
def test_tinyllm_cli_killed_mid_collection_resumes_from_the_cache(slow_server, tmp_path, reliability_log):
    srv = slow_server(lambda p: "Light bends in water. Thus, the answer is (b) blue")
    cache_dir = tmp_path / "cache"
    teacher = _yaml(tmp_path / "teacher.yaml", f"""
        model:
          class_path: lit_agents.methods.distillation.DistillationModule
          init_args: {{teacher_prefixes: ["explain: "], teacher_weights: [1.0]}}
        data:
          class_path: data_modules.mcqa_distill.MCQADistillDataModule
          init_args:
            datasets:
              - {{name: obqa, format: tinyllm, train: "samples:tinyllm/obqa/obqa_train.json",
                 val: "samples:tinyllm/obqa/obqa_valid.json", max_train: 8, max_eval: 2}}
            teachers:
              - class_path: data_modules.rationales.GeneratorTeacher
                init_args:
                  name: remote
                  k_shot: 2
                  chunk_size: 4
                  max_new_tokens: 32
                  generator:
                    class_path: lit_agents.generation.OpenAIGenerator
                    init_args: {{model: remote, base_url: "{srv.url}", max_concurrency: 1, timeout: 10.0}}
            rationale_teachers: [remote]
            cache_dir: {cache_dir}
            batch_size: 4
            eval_batch_size: 2
        """)
    args = ["fit", "--config", "configs/tinyllm.yaml", "--config", teacher, "--trainer.default_root_dir",
            str(tmp_path / "run"), "--trainer.max_epochs", "1", "--trainer.max_steps", "1",
            "--trainer.limit_val_batches", "1"]
    cache = cache_dir / "teacher_remote.jsonl"
    kill_mid_collection(args, cache, min_records=3)
    kept = tear_last_record(cache)
    assert 2 <= kept < 8 and not list(cache_dir.glob("*/train.jsonl"))  # killed mid-collection
    served = settle(srv)

    run_cli(args)  # the same command again
    assert srv.requests_served - served == 8 - kept  # only the calls not in the cache (incl. the torn one)
    rows = cache_rows(cache)
    assert len(rows) == 8
    processed = list(cache_dir.glob("*/train.jsonl"))
    assert len(processed) == 1
    train = jsonl(processed[0])
    assert len(train) == 8 and len({r["id"] for r in train}) == 8
    assert all(r["rationales"] == ["Light bends in water."] for r in train)
    stats = json.loads((processed[0].parent / "stats.json").read_text())
    assert stats["teachers"]["remote"]["ok"] == 8
    assert not no_temp_files(cache_dir)
    reliability_log("collection", "TinyLLM rationales, `lit-agents fit` SIGKILLed mid-collection, last cache "
                    "record torn in half, same command re-run",
                    "re-run completes and asks the server only for the calls not in the cache (the torn one "
                    "redone); cache and processed train.jsonl: every record once, none corrupted", tried=8)


# ---------------------------------------------------------------- RM-R1: lit-agents fit --config rm_r1_distill.yaml
def _oracle_reply(messages) -> str:
    """Says A, unless the released retry hint names the correct verdict (then it follows it)."""
    text = messages[-1]["content"] if isinstance(messages, list) else messages
    verdict = "B" if "the correct verdict is [[B]]" in text else "A"
    return f"<type>Chat</type><eval>...</eval>\n<answer>[[{verdict}]]</answer>"


def test_rm_r1_cli_killed_mid_collection_resumes_and_repairs_torn_traces(slow_server, tmp_path, reliability_log):
    srv = slow_server(_oracle_reply)
    pairs = str(samples_dir() / "rm_r1" / "hh_harmless_train.jsonl")
    traces = tmp_path / "traces.jsonl"
    oracle = _yaml(tmp_path / "oracle.yaml", f"""
        data:
          class_path: data_modules.rm_r1_traces.TraceDistillDataModule
          init_args:
            pairs: [{{path: "{pairs}", limit: 6}}]
            val: []
            traces_path: {traces}
            max_new_tokens: 64
            oracle:
              class_path: lit_agents.generation.OpenAIGenerator
              init_args: {{model: remote, base_url: "{srv.url}", max_concurrency: 1, timeout: 10.0}}
            retry_oracle:
              class_path: lit_agents.generation.OpenAIGenerator
              init_args: {{model: remote-retry, base_url: "{srv.url}", max_concurrency: 1, timeout: 10.0}}
        """)
    args = ["fit", "--config", "configs/rm_r1_distill.yaml", "--config", oracle, "--trainer.default_root_dir",
            str(tmp_path / "run"), "--trainer.max_epochs", "1", "--trainer.max_steps", "1",
            "--trainer.limit_val_batches", "0", "--model.export_dir", str(tmp_path / "policy")]
    cache = tmp_path / "oracle_cache" / "oracle.jsonl"
    kill_mid_collection(args, cache, min_records=2)
    kept = tear_last_record(cache)
    assert 1 <= kept < 6 and not traces.exists()
    served = settle(srv)

    run_cli(args)
    first, retry = cache_rows(cache), cache_rows(tmp_path / "oracle_cache" / "retry_oracle.jsonl")
    assert len(first) == 6
    assert srv.requests_served - served == 6 - kept + len(retry)  # first-pass calls not cached + the retries
    rows = jsonl(traces)
    assert len(rows) == 6 and len({(r["pair_id"], r["order"]) for r in rows}) == 6
    stats = json.loads(traces.with_suffix(".stats.json").read_text())
    assert stats == {"pairs": 6, "kept_first": 6 - len(retry), "kept_retry": len(retry), "dropped": 0}

    # killed while appending the traces (torn last line) and before the stats: prepare_data repairs both,
    # from the oracle caches (no server call)
    tear_last_record(traces)
    traces.with_suffix(".stats.json").unlink()
    served = srv.requests_served
    dm = TraceDistillDataModule(
        pairs=[PreferenceSource(pairs, limit=6)], val=[], traces_path=str(traces), max_new_tokens=64,
        oracle=OpenAIGenerator("remote", srv.url, max_concurrency=1, timeout=10.0),
        retry_oracle=OpenAIGenerator("remote-retry", srv.url, max_concurrency=1, timeout=10.0),
        system_prompt="rm_r1_cor_system_short", max_response_chars=80)  # as configs/rm_r1_distill.yaml
    dm.prepare_data()
    dm.setup("fit")
    assert srv.requests_served == served
    assert sorted(map(json.dumps, jsonl(traces))) == sorted(map(json.dumps, rows))  # same 6 records, whole
    assert json.loads(traces.with_suffix(".stats.json").read_text()) == stats
    assert dm.stats == {"pairs": 6, "with_trace": 6, "without_trace": 0}
    assert not no_temp_files(tmp_path / "oracle_cache") and not no_temp_files(tmp_path)
    reliability_log("collection", "RM-R1 traces, `lit-agents fit` SIGKILLed mid-collection, last oracle-cache "
                    "record torn in half, same command re-run",
                    "re-run completes and asks the server only for the calls not in the cache (the torn one "
                    "redone); oracle caches, traces.jsonl and stats: every pair once, none corrupted", tried=6)
    reliability_log("collection", "RM-R1 traces.jsonl torn mid-append and stats.json lost (kill after the oracle "
                    "calls)", "torn line cut and the trace written again from the cache (0 server calls); "
                    "stats rewritten over all pairs", tried=1)


# ---------------------------------------------------------------- IterAlign: lit-agents fit --config iteralign.yaml
def test_iteralign_cli_killed_mid_judging_resumes_from_the_judge_cache(slow_server, tmp_path, reliability_log):
    srv = slow_server(lambda p: "Evaluation: Negative.")
    judge_cache = tmp_path / "judge.jsonl"
    judge = _yaml(tmp_path / "judge.yaml", f"""
        model:
          class_path: lit_agents.methods.iteralign.IterAlignModule
          init_args:
            judge:
              class_path: lit_agents.alignment.judges.LLMJudge
              init_args:
                retry_wait: 0.0
                generator:
                  class_path: lit_agents.generation.CachedGenerator
                  init_args:
                    path: {judge_cache}
                    generator:
                      class_path: lit_agents.generation.OpenAIGenerator
                      init_args: {{model: remote, base_url: "{srv.url}", max_concurrency: 1, timeout: 10.0}}
            red_team_sampling: {{max_new_tokens: 8, temperature: 0.7, top_p: 0.9, max_prompt_length: 128}}
            reflection_sampling: {{max_new_tokens: 8, temperature: 0.7, top_p: 0.9, max_prompt_length: 256}}
            sft_epochs: 1
            eval_before_training: false
        data:
          class_path: data_modules.redteam.RedTeamDataModule
          init_args: {{chunk_size: 6, max_steps_per_iteration: 2}}
        """)
    args = ["fit", "--config", "configs/iteralign.yaml", "--config", judge, "--trainer.default_root_dir",
            str(tmp_path / "run"), "--trainer.max_epochs", "1", "--trainer.limit_val_batches", "0",
            "--model.proposer.init_args.generator.init_args.top_k", "1"]
    kill_mid_collection(args, judge_cache, min_records=3)
    kept = tear_last_record(judge_cache)
    assert kept >= 2 and not list((tmp_path / "run").rglob("constitutions.jsonl"))
    served = settle(srv)

    run_cli(args)
    rows = cache_rows(judge_cache)
    assert srv.requests_served - served == len(rows) - kept  # only the judge calls not in the cache
    out = sorted((tmp_path / "run").rglob("constitutions.jsonl"))
    assert len(out) == 1
    history = jsonl(out[0])
    assert [h["iteration"] for h in history] == [0]  # one row per iteration, not repeated
    h = history[0]
    assert h["judged"] == 6 and h["bad"] == 6 and h["judge_errors"] == 0 and h["revised"] == 6
    assert len(rows) <= h["judged"] + h["revised"]  # the killed run's records were reused, none left over
    assert (out[0].parent / "summary.md").is_file() and not no_temp_files(tmp_path / "run")
    reliability_log("collection", "IterAlign LLM judge, `lit-agents fit` SIGKILLed mid-judging, last judge-cache "
                    "record torn in half, same command re-run",
                    "re-run completes and asks the server only for the judge calls not in the cache (the torn "
                    "one redone); judge cache and constitutions.jsonl: every record once, none corrupted",
                    tried=h["judged"] + h["revised"])


def test_iteralign_reports_are_replaced_atomically(tmp_path, reliability_log):
    """A rewrite that fails half-way (here: a value JSON cannot encode in the 2nd row) leaves the previous
    complete files and no temporary file, as a kill in the middle of the write would."""
    row = {"iteration": 0, "prompts": [0, 2], "judged": 2, "bad": 1, "asr_before": 0.5, "asr_after": 0.0,
           "revised": 1, "accepted": 1, "judge_errors": 0, "judge_unparseable": 0, "constitutions": ["Be kind."],
           "proposer_errors": [], "sft_steps": 1, "sft_loss_first": 1.0, "sft_loss_last": 1.0,
           "sft_loss_mean": 1.0}
    write_outputs(tmp_path, [row], [])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(before) == {"constitutions.jsonl", "evaluation.jsonl", "summary.md", "iteralign_progress.png"}
    with pytest.raises(TypeError):
        write_outputs(tmp_path, [dict(row, sft_steps=2), dict(row, iteration=1, constitutions={"not", "json"})],
                      [])
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    reliability_log("collection", "IterAlign run reports (constitutions.jsonl, evaluation.jsonl, summary.md, "
                    "progress PNG) rewritten and the write fails half-way",
                    "previous complete files kept, no temporary file left (tmp file + os.replace)")
