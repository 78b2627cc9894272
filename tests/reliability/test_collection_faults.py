"""Every collection flow that goes through ``CachedGenerator`` against a real OpenAI-compatible server on
127.0.0.1 that misbehaves on purpose (HTTP 500, 429 with Retry-After, malformed JSON, a connection dropped
mid-answer, answers slower than the client's timeout): every finished call is kept in the cache, no record is
duplicated, and the run either completes after retries or stops with an error saying how many calls failed and
how to resume (the IterAlign judge never stops: it counts the calls that failed); the re-run asks the server only
for what is missing. Runs killed mid-write: ``test_collection_kill.py``.

The server answers with a fixed reply (a stand-in for the remote LLM, which does not run here); the client,
retries, cache and collection code are the real ones.
"""

from __future__ import annotations

import json
import time

import pytest

from data_modules.rationales import GeneratorTeacher
from data_modules.rm_r1_traces import collect_traces
from lit_agents.alignment.judges import LLMJudge
from lit_agents.generation import CachedGenerator, GenerationError, OpenAIGenerator, TextGenerator
from lit_agents.serve import OpenAICompatibleServer, dropped_connection, http_error, malformed_json, no_fault, slow


class FixedReply(TextGenerator):
    """The server's model: always the same reply."""

    def __init__(self, reply: str):
        super().__init__()
        self.reply = reply

    def _stream(self, prompts, params):
        for i, _ in enumerate(prompts):
            yield i, self.reply

    def identity(self) -> dict:
        return {"fixed": self.reply}


error_500 = http_error(500)
error_429 = http_error(429, retry_after=1)
malformed, dropped, ok = malformed_json, dropped_connection, no_fault
TIMEOUT = 0.3  # the client's timeout in the slow-answer tests
too_slow = slow(1.0)  # answers after the client has given up (the server still finishes it)


@pytest.fixture()
def server_for():
    started = []

    def start(reply: str) -> OpenAICompatibleServer:
        srv = OpenAICompatibleServer(FixedReply(reply), model_name="remote").start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def _cache_rows(path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert len({r["key"] for r in rows}) == len(rows), "duplicate cache records"
    return rows


def _client(srv, retries: int, timeout: float = 10.0) -> OpenAIGenerator:
    return OpenAIGenerator("remote", srv.url, max_retries=retries, max_concurrency=1, timeout=timeout,
                           max_new_tokens=16)


def _settled(srv, n: int) -> int:
    """Wait for the answers the client gave up on (past its timeout) to finish server-side; returns the count
    of requests the server answered, which must then be ``n`` (each timed-out attempt + each real call)."""
    deadline = time.monotonic() + 10
    while srv.requests_served < n and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    return srv.requests_served


# ---------------------------------------------------------------- TinyLLM rationale collection
def _mcqa(i: int) -> dict:
    choices = ["red", "blue", "green"]
    return {"id": f"q{i}", "dataset": "d", "split": "train", "question": f"question {i}?", "choices": choices,
            "answer_index": i % 3, "answer_text": choices[i % 3]}


def test_tinyllm_rationale_collection_survives_faults_and_resumes(server_for, tmp_path, reliability_log):
    srv = server_for("The sky is blue. Thus, the answer is (b) blue")
    examples = [_mcqa(i) for i in range(5)]
    # transient faults are retried by the client; a malformed answer (not retried) fails that call only
    srv.add_faults([error_500, ok, error_429, ok, dropped, ok, malformed, ok, ok])
    teacher = GeneratorTeacher("remote", _client(srv, retries=2), k_shot=0, chunk_size=2, max_new_tokens=16)
    with pytest.raises(GenerationError) as info:
        teacher.collect(examples, {}, tmp_path)
    msg = str(info.value)
    assert "1 of 2 calls" in msg and "re-run" in msg  # the chunk with the malformed answer
    assert "teacher remote" in msg and "3 of 5 teacher calls are done" in msg and "only the other 2" in msg
    cache = tmp_path / "teacher_remote.jsonl"
    assert len(_cache_rows(cache)) == 3  # chunk 1 (2 calls) + the good call of chunk 2

    served = srv.requests_served
    teacher = GeneratorTeacher("remote", _client(srv, retries=2), k_shot=0, chunk_size=2, max_new_tokens=16)
    out = teacher.collect(examples, {}, tmp_path)
    assert len(out) == 5 and all(text.endswith("(b) blue") for text, _ in out)
    assert srv.requests_served - served == 2  # only the failed and the never-asked prompts
    assert len(_cache_rows(cache)) == 5
    reliability_log("collection", "TinyLLM rationales: HTTP 500, 429 Retry-After, dropped connection (retried), "
                    "malformed JSON (fails its call)",
                    "finished calls kept (3/5); error names 1 failed call, 3 of 5 done and how to resume; re-run "
                    "asks only the 2 missing, no duplicate", tried=4)


# ---------------------------------------------------------------- RM-R1 trace collection
def test_rm_r1_trace_collection_survives_faults_and_resumes(server_for, tmp_path, reliability_log):
    srv = server_for("<rubric>r</rubric><eval>e</eval><answer>[[A]]</answer>")
    records = [{"pair_id": f"p{i}", "order": "ab", "label": "A", "prompt": f"judge pair {i}"} for i in range(4)]
    srv.add_faults([error_500, error_500, error_500, ok, error_429, ok])  # call 1 fails for good (2 retries)
    oracle = CachedGenerator(_client(srv, retries=2), str(tmp_path / "oracle.jsonl"), progress=False)
    with pytest.raises(GenerationError, match=r"1 of 4 calls.*re-run"):
        collect_traces(records, oracle, max_new_tokens=16)
    assert len(_cache_rows(tmp_path / "oracle.jsonl")) == 3

    served = srv.requests_served
    oracle = CachedGenerator(_client(srv, retries=2), str(tmp_path / "oracle.jsonl"), progress=False)
    kept, stats = collect_traces(records, oracle, max_new_tokens=16)
    assert srv.requests_served - served == 1
    assert stats == {"pairs": 4, "kept_first": 4, "kept_retry": 0, "dropped": 0}
    assert sorted(k["pair_id"] for k in kept) == ["p0", "p1", "p2", "p3"]
    assert len(_cache_rows(tmp_path / "oracle.jsonl")) == 4
    reliability_log("collection", "RM-R1 traces: HTTP 500 x3 on one call (retries exhausted), 429 Retry-After",
                    "finished calls kept (3/4); error names 1 of 4 failed calls and how to resume; re-run asks "
                    "only the 1 missing, no duplicate", tried=4)


# ---------------------------------------------------------------- IterAlign LLM judge
def test_iteralign_llm_judge_survives_faults_without_duplicates(server_for, tmp_path, reliability_log):
    srv = server_for("Evaluation: Negative.")
    # dropped and malformed answers fail their call; the judge's own retry round asks again (cache: only once)
    srv.add_faults([ok, dropped, error_429, ok, malformed, ok])
    cache = tmp_path / "judge.jsonl"
    judge = LLMJudge(CachedGenerator(_client(srv, retries=0), str(cache), progress=False), max_retries=2,
                     retry_wait=0.0)
    prompts = [f"prompt {i}" for i in range(4)]
    res = judge.judge(prompts, [f"response {i}" for i in range(4)])
    assert res.errors == 0 and res.retried > 0
    assert res.verdicts == ["bad"] * 4
    assert len(_cache_rows(cache)) == 4

    served = srv.requests_served
    again = LLMJudge(CachedGenerator(_client(srv, retries=0), str(cache), progress=False), retry_wait=0.0)
    assert again.judge(prompts, [f"response {i}" for i in range(4)]).verdicts == ["bad"] * 4
    assert srv.requests_served == served  # everything came from the cache
    reliability_log("collection", "IterAlign LLM judge: dropped connection, 429 Retry-After, malformed JSON",
                    "judge's retry round asks again; 4/4 verdicts, each call cached once; re-run served from the "
                    "cache (0 calls)", tried=3)


def test_iteralign_llm_judge_counts_calls_that_never_succeed(server_for, tmp_path, reliability_log):
    srv = server_for("Evaluation: Positive.")
    srv.add_faults([ok, error_500, ok, error_500, error_500])  # the 2nd prompt fails on all 3 attempts
    cache = tmp_path / "judge.jsonl"
    judge = LLMJudge(CachedGenerator(_client(srv, retries=0), str(cache), progress=False), max_retries=2,
                     retry_wait=0.0)
    res = judge.judge(["a", "b", "c"], ["x", "y", "z"])
    assert res.errors == 1 and res.verdicts == ["good", None, "good"] and res.raw[1] is None
    assert len(_cache_rows(cache)) == 2
    reliability_log("collection", "IterAlign LLM judge: HTTP 500 on every attempt of one call",
                    "the loop goes on; the call is counted as a judge error (no verdict), the 2 others cached",
                    tried=3)


# ---------------------------------------------------------------- answers slower than the client's timeout
def test_tinyllm_slow_answers_past_the_timeout_are_retried_or_counted(server_for, tmp_path, reliability_log):
    srv = server_for("The sky is blue. Thus, the answer is (b) blue")
    examples = [_mcqa(i) for i in range(3)]
    # call 1: too slow, the retry answers; call 2: fine; call 3: too slow on both attempts -> fails
    srv.add_faults([too_slow, ok, ok, too_slow, too_slow])
    teacher = GeneratorTeacher("remote", _client(srv, retries=1, timeout=TIMEOUT), k_shot=0, chunk_size=3,
                               max_new_tokens=16)
    with pytest.raises(GenerationError) as info:
        teacher.collect(examples, {}, tmp_path)
    msg = str(info.value)
    assert "1 of 3 calls" in msg and "Timeout" in msg and "2 of 3 teacher calls are done" in msg
    cache = tmp_path / "teacher_remote.jsonl"
    assert len(_cache_rows(cache)) == 2
    served = _settled(srv, 5)
    assert served == 5  # 3 timed-out attempts + 2 answers; only the 2 answers reached the cache

    teacher = GeneratorTeacher("remote", _client(srv, retries=1, timeout=TIMEOUT), k_shot=0, chunk_size=3,
                               max_new_tokens=16)
    out = teacher.collect(examples, {}, tmp_path)
    assert [text for text, _ in out] == ["The sky is blue. Thus, the answer is (b) blue"] * 3
    assert srv.requests_served - served == 1 and len(_cache_rows(cache)) == 3
    reliability_log("collection", "TinyLLM rationales: answers slower than the client timeout (3 of 5 attempts)",
                    "timeout fires; retried call completes, the call slow on every attempt fails with the count "
                    "and how to resume; re-run asks only it, no duplicate", tried=3)


def test_rm_r1_slow_answers_past_the_timeout_are_retried_or_counted(server_for, tmp_path, reliability_log):
    srv = server_for("<rubric>r</rubric><eval>e</eval><answer>[[A]]</answer>")
    records = [{"pair_id": f"p{i}", "order": "ab", "label": "A", "prompt": f"judge pair {i}"} for i in range(3)]
    srv.add_faults([ok, too_slow, ok, too_slow, too_slow])  # call 2 retried after a timeout, call 3 fails
    oracle = CachedGenerator(_client(srv, retries=1, timeout=TIMEOUT), str(tmp_path / "oracle.jsonl"),
                             progress=False)
    with pytest.raises(GenerationError, match=r"1 of 3 calls.*Timeout.*2 of 3 new results were saved.*re-run"):
        collect_traces(records, oracle, max_new_tokens=16)
    assert len(_cache_rows(tmp_path / "oracle.jsonl")) == 2
    served = _settled(srv, 5)
    assert served == 5

    oracle = CachedGenerator(_client(srv, retries=1, timeout=TIMEOUT), str(tmp_path / "oracle.jsonl"),
                             progress=False)
    kept, stats = collect_traces(records, oracle, max_new_tokens=16)
    assert srv.requests_served - served == 1
    assert stats == {"pairs": 3, "kept_first": 3, "kept_retry": 0, "dropped": 0}
    assert len(_cache_rows(tmp_path / "oracle.jsonl")) == 3
    reliability_log("collection", "RM-R1 traces: answers slower than the client timeout (3 of 5 attempts)",
                    "timeout fires; retried call completes, the call slow on every attempt fails with the count "
                    "and how to resume; re-run asks only it, no duplicate", tried=3)


def test_iteralign_llm_judge_slow_answers_past_the_timeout(server_for, tmp_path, reliability_log):
    srv = server_for("Evaluation: Negative.")
    # no client retries: the judge's own retry round asks again. Prompt 1 is too slow twice (counted as an
    # error), prompt 3 once (answered in the retry round)
    srv.add_faults([too_slow, ok, too_slow, too_slow, ok])
    cache = tmp_path / "judge.jsonl"
    judge = LLMJudge(CachedGenerator(_client(srv, retries=0, timeout=TIMEOUT), str(cache), progress=False),
                     max_retries=1, retry_wait=0.0)
    res = judge.judge(["a", "b", "c"], ["x", "y", "z"])
    assert res.verdicts == [None, "bad", "bad"] and res.errors == 1 and res.retried == 2
    assert len(_cache_rows(cache)) == 2
    served = _settled(srv, 5)
    assert served == 5

    again = LLMJudge(CachedGenerator(_client(srv, retries=0, timeout=TIMEOUT), str(cache), progress=False),
                     retry_wait=0.0)
    assert again.judge(["a", "b", "c"], ["x", "y", "z"]).verdicts == ["bad"] * 3
    assert srv.requests_served - served == 1 and len(_cache_rows(cache)) == 3
    reliability_log("collection", "IterAlign LLM judge: answers slower than the client timeout (3 of 5 attempts)",
                    "timeout fires; the judge's retry round recovers one call, the other is counted as an error; "
                    "a later judge asks only that one, no duplicate", tried=3)
