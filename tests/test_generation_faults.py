"""The HTTP backend against a real server on 127.0.0.1 that misbehaves on purpose: every finished call is
kept, and the run either completes after retries or stops with an error that says how many calls failed
and how to resume."""

import json

import pytest

from lit_agents.generation import CachedGenerator, GenerationError, OpenAIGenerator, TransformersGenerator
from lit_agents.serve import OpenAICompatibleServer, dropped_connection, http_error, malformed_json, slow
from tests.helpers import tiny_backbone


@pytest.fixture(scope="module")
def local_gen():
    return TransformersGenerator(tiny_backbone("llama"), max_new_tokens=4)


@pytest.fixture()
def server(local_gen):
    srv = OpenAICompatibleServer(local_gen, model_name="tiny").start()
    yield srv
    srv.stop()


def test_slow_answer_past_timeout_is_retried(server, reliability_log):
    server.add_faults([slow(4.0)])
    gen = OpenAIGenerator("tiny", server.url, timeout=2.0, max_retries=3, max_concurrency=1, max_new_tokens=2)
    assert len(gen.generate(["a"])) == 1
    reliability_log("collection", "OpenAIGenerator: answer slower than the client timeout",
                    "timeout fires, the call is retried and completes")


def test_dropped_connection_is_retried(server, reliability_log):
    server.add_faults([dropped_connection])
    gen = OpenAIGenerator("tiny", server.url, max_retries=3, max_concurrency=1, max_new_tokens=2)
    assert len(gen.generate(["a"])) == 1
    reliability_log("collection", "OpenAIGenerator: connection dropped mid-answer",
                    "the call is retried and completes")


def test_malformed_json_fails_with_count_and_keeps_finished_calls(server, tmp_path, reliability_log):
    cache = tmp_path / "c.jsonl"
    gen = CachedGenerator(OpenAIGenerator("tiny", server.url, max_retries=0, max_concurrency=1, max_new_tokens=2),
                          str(cache), progress=False)
    prompts = ["p0", "p1", "p2", "p3"]
    server.add_faults([lambda h: False, lambda h: False, malformed_json, lambda h: False])  # the 3rd request breaks
    with pytest.raises(GenerationError) as info:
        gen.generate(prompts)
    msg = str(info.value)
    assert "1 of 4 calls" in msg and "3 of 4 new results were saved" in msg and "re-run" in msg
    kept = [json.loads(line) for line in cache.read_text().splitlines()]
    assert sorted(r["prompt"] for r in kept) == ["p0", "p1", "p3"]
    served = server.requests_served
    again = CachedGenerator(OpenAIGenerator("tiny", server.url, max_retries=0, max_new_tokens=2), str(cache),
                            progress=False)
    assert len(again.generate(prompts)) == 4
    assert server.requests_served - served == 1  # only the failed prompt is asked again
    lines = cache.read_text().splitlines()
    assert len(lines) == 4 and len({json.loads(line)["key"] for line in lines}) == 4
    reliability_log("collection", "CachedGenerator over HTTP: malformed JSON answer (1 of 4 calls)",
                    "3 finished calls kept; error names 1 of 4 failed calls and how to resume; re-run asks only "
                    "the failed one, no duplicate")


def test_persistent_5xx_stops_with_how_to_resume(server, tmp_path, reliability_log):
    server.add_faults([http_error(500)] * 10)
    gen = CachedGenerator(OpenAIGenerator("tiny", server.url, max_retries=1, max_concurrency=1, max_new_tokens=2),
                          str(tmp_path / "c.jsonl"), progress=False)
    with pytest.raises(GenerationError, match="2 of 2 calls .*re-run the same command"):
        gen.generate(["a", "b"])
    reliability_log("collection", "CachedGenerator over HTTP: HTTP 500 on every attempt",
                    "stops with an error naming 2 of 2 failed calls and how to resume", tried=4)
