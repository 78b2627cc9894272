"""The generator interface against real backends: a tiny local model, and an OpenAI-compatible server on
127.0.0.1 answering with that model (the real ``openai`` client talks to it: no mock)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from lit_agents.generation import CachedGenerator, GenerationError, OpenAIGenerator, TransformersGenerator
from lit_agents.sampling.policy import truncate_at_stop
from lit_agents.serve import OpenAICompatibleServer, http_error
from tests.helpers import REPO, tiny_backbone


@pytest.fixture(scope="module")
def local_gen():
    return TransformersGenerator(tiny_backbone("llama"), max_new_tokens=8, batch_size=3)


@pytest.fixture()
def server(local_gen):
    srv = OpenAICompatibleServer(local_gen, model_name="tiny").start()
    yield srv
    srv.stop()


def test_truncate_at_stop():
    assert truncate_at_stop("abc\n\ndef", ["\n\n"]) == "abc"
    assert truncate_at_stop("abcdef", ["x", "d", "c"]) == "ab"
    assert truncate_at_stop("abc", []) == "abc"


def test_local_generation_batched_greedy_and_chat(local_gen):
    prompts = ["Question: 1+1?", [{"role": "user", "content": "hello"}], "x", "Another prompt"]
    a = local_gen.generate(prompts)
    b = local_gen.generate(prompts)
    assert len(a) == 4 and a == b  # greedy is deterministic across batches of 3 + 1
    single = local_gen.generate([prompts[3]])
    assert single[0] == a[3]  # left padding does not change the answer


def test_seq2seq_local_generation():
    gen = TransformersGenerator(tiny_backbone("t5"), max_new_tokens=5)
    out = gen.generate(["translate: hi", "b"])
    assert len(out) == 2 and all(isinstance(o, str) for o in out)


def test_sampling_keys_are_checked(local_gen):
    with pytest.raises(TypeError, match="unknown sampling"):
        local_gen.generate(["x"], temperture=0.5)


def test_openai_backend_matches_local_model(server, local_gen):
    remote = OpenAIGenerator("tiny", server.url, max_new_tokens=8, max_concurrency=2)
    prompts = ["Question: 1+1?", "Another prompt"]
    assert remote.generate(prompts) == local_gen.generate([[{"role": "user", "content": p}] for p in prompts])
    completions = OpenAIGenerator("tiny", server.url, endpoint="completions", max_new_tokens=8)
    assert completions.generate(prompts) == local_gen.generate(prompts)
    assert server.requests_served == 4


def test_openai_backend_retries_5xx_and_429(server):
    server.add_faults([http_error(500), http_error(429, retry_after=0), http_error(503)])
    gen = OpenAIGenerator("tiny", server.url, max_new_tokens=4, max_retries=4, max_concurrency=1)
    assert len(gen.generate(["retry me"])) == 1
    assert server.requests_served == 1


def test_openai_backend_4xx_fails_clearly(server):
    def bad_request(handler):
        handler._send(400, {"error": {"message": "context too long", "type": "invalid_request_error"}})
        return True

    server.add_faults([bad_request])
    gen = OpenAIGenerator("tiny", server.url, max_new_tokens=4, max_retries=3, max_concurrency=1)
    with pytest.raises(GenerationError, match="1 of 1 calls .* failed"):
        gen.generate(["x"])


def test_cache_resumes_after_kill_without_repeating_calls(server, tmp_path, reliability_log):
    """Kill a collection halfway (SIGKILL), re-run: only the missing prompts reach the server, and the cache
    holds exactly one record per prompt."""
    cache = tmp_path / "cache.jsonl"
    prompts = [f"prompt number {i}" for i in range(12)]
    script = textwrap.dedent(f"""
        import time
        from lit_agents.generation import CachedGenerator, OpenAIGenerator
        gen = CachedGenerator(OpenAIGenerator("tiny", {server.url!r}, max_new_tokens=6, max_concurrency=1),
                              {str(cache)!r}, progress=False)
        for p in {prompts!r}:
            gen.generate([p])
            time.sleep(0.15)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and (not cache.exists() or cache.read_text().count("\n") < 4):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with open(cache, "ab") as f:  # a crash mid-write leaves a partial last line
        f.write(b'{"key": "deadbeef", "prompt": "trunc')
    done_before = sum(1 for line in cache.read_text().splitlines() if line.endswith("}"))
    assert 4 <= done_before < len(prompts)
    served_before = server.requests_served

    gen = CachedGenerator(OpenAIGenerator("tiny", server.url, max_new_tokens=6, max_concurrency=3), str(cache),
                          progress=False)
    assert len(gen) == done_before
    outputs = gen.generate(prompts)
    assert server.requests_served - served_before == len(prompts) - done_before
    records = [json.loads(line) for line in cache.read_text().splitlines()]
    assert sorted(r["prompt"] for r in records) == sorted(prompts)  # no loss, no duplicate, no corruption
    fresh = OpenAIGenerator("tiny", server.url, max_new_tokens=6).generate(prompts)
    assert outputs == fresh
    again = gen.generate(prompts)  # everything cached now
    assert again == outputs and server.requests_served - served_before == len(prompts) - done_before + len(prompts)
    reliability_log("collection", "generic JSONL cache: collector SIGKILLed after 4+ of 12 calls, torn last line",
                    "torn line cut; re-run asks only for the missing calls; one record per prompt, outputs as fresh")


def test_cache_key_separates_sampling_settings(local_gen, tmp_path):
    gen = CachedGenerator(local_gen, str(tmp_path / "c.jsonl"), progress=False)
    gen.generate(["same prompt"], max_new_tokens=2)
    gen.generate(["same prompt"], max_new_tokens=4)
    gen.generate(["same prompt", "same prompt"], max_new_tokens=4)
    assert len(gen) == 2


def test_corrupt_cache_line_names_file_and_line(local_gen, tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"key": "a", "output": "x"}\nnot json\n{"key": "b", "output": "y"}\n')
    with pytest.raises(ValueError, match=r"c\.jsonl, line 2"):
        CachedGenerator(local_gen, str(path))


def test_hub_generation_config_cannot_change_the_decoding():
    """issue 14 item 6: a checkpoint's own generation_config (BART on the hub: 4 beams, trigram blocking, length
    penalty, a repetition penalty elsewhere) must not replace the greedy decoding a method asks for."""
    import copy
    import warnings

    import torch

    from lit_agents.sampling.policy import sample_with_model
    from tests.helpers import tiny_backbone

    torch.manual_seed(0)
    model, tok = tiny_backbone("bart").build()
    prompts = ["the cat sat on the mat", "a b a b a b"]
    plain = copy.deepcopy(model)
    plain.generation_config.num_beams = 1
    plain.generation_config.no_repeat_ngram_size = 0
    plain.generation_config.repetition_penalty = 1.0
    plain.generation_config.min_length = 0
    greedy = sample_with_model(plain, tok, prompts, max_new_tokens=12)
    gc = model.generation_config
    gc.num_beams, gc.no_repeat_ngram_size, gc.repetition_penalty, gc.length_penalty = 4, 3, 3.0, 2.0
    gc.min_length, gc.early_stopping = 8, True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = sample_with_model(model, tok, prompts, max_new_tokens=12)
    assert got == greedy


def test_transformers_identity_keys_on_what_decides_the_text(tmp_path):
    """issue 14 item 4: two different models behind one CachedGenerator file must not share entries; nor may
    the same spec with another revision, dtype, LoRA or chat-template choice."""
    import dataclasses

    import torch

    from lit_agents.backbone import LoRASpec
    from tests.helpers import tiny_backbone

    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(tiny_backbone().build())
    first = TransformersGenerator(model=models[0][0], tokenizer=models[0][1])
    other = TransformersGenerator(model=models[1][0], tokenizer=models[1][1])
    CachedGenerator(first, str(tmp_path / "c.jsonl")).generate(["hello"], max_new_tokens=2)
    assert CachedGenerator(first, str(tmp_path / "c.jsonl")).cached(["hello"], max_new_tokens=2) == [True]
    assert CachedGenerator(other, str(tmp_path / "c.jsonl")).cached(["hello"], max_new_tokens=2) == [False]

    spec = tiny_backbone()
    torch.manual_seed(0)
    base = TransformersGenerator(spec).identity()
    for changed in (dict(revision="v2"), dict(dtype="bfloat16"), dict(lora=LoRASpec(r=4))):
        torch.manual_seed(0)
        assert TransformersGenerator(dataclasses.replace(spec, **changed)).identity() != base, changed
    torch.manual_seed(0)
    assert TransformersGenerator(spec, apply_chat_template=False).identity() != base
