"""One interface for every LLM call a method makes (teachers, judges, proposers, trace writers).

- :class:`TransformersGenerator`: a local transformers model (batched, chat template, left padding, stops).
- :class:`OpenAIGenerator`: any OpenAI-compatible HTTP server (OpenAI, vLLM, TGI) through the ``openai`` client.
- :class:`CachedGenerator`: wraps either; every result is appended to a JSONL file as it arrives, so an
  interrupted collection resumes by calling the backend only for the prompts still missing.

:func:`sample_with_model` is the same local generation for a model being trained (GRPO, IterAlign);
:func:`model_generate` (which it uses) and :func:`gathered_params` make it work when the model is sharded by FSDP.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm.auto import tqdm

from lit_agents.backbone import BackboneConfig, unwrap
from lit_agents.fileio import DataError, repair_jsonl_tail
from lit_agents.prompts import Prompt
from lit_agents.sampling.policy import sample_with_model, truncate_at_stop

log = logging.getLogger(__name__)

SAMPLING_KEYS = ("max_new_tokens", "temperature", "top_p", "stop", "seed")


class GenerationError(RuntimeError):
    """Some backend calls failed after retries; the finished ones are kept (see the message)."""


class TextGenerator(ABC):
    """``generate(prompts, **sampling) -> list[str]``; a prompt is a string or a list of chat messages.

    Sampling keys: ``max_new_tokens``, ``temperature`` (0 = greedy), ``top_p``, ``stop`` (list of strings
    that end a completion, not included in it), ``seed``. Unset keys take the generator's defaults.
    """

    def __init__(self, *, max_new_tokens: int = 128, temperature: float = 0.0, top_p: float = 1.0,
                 stop: list[str] | None = None, seed: int | None = None):
        self.defaults: dict[str, Any] = dict(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                             stop=list(stop or []), seed=seed)

    def sampling(self, **overrides: Any) -> dict[str, Any]:
        unknown = set(overrides) - set(SAMPLING_KEYS)
        if unknown:
            raise TypeError(f"unknown sampling argument(s) {sorted(unknown)}; expected {SAMPLING_KEYS}")
        params = dict(self.defaults)
        params.update({k: v for k, v in overrides.items() if v is not None})
        params["stop"] = list(params.get("stop") or [])
        return params

    def generate(self, prompts: Sequence[Prompt], **sampling: Any) -> list[str]:
        prompts = list(prompts)
        out: list[str | None] = [None] * len(prompts)
        for i, text in self.generate_stream(prompts, **sampling):
            out[i] = text
        return [o if o is not None else "" for o in out]

    def generate_stream(self, prompts: Sequence[Prompt], **sampling: Any) -> Iterator[tuple[int, str]]:
        """Yield ``(index, completion)`` as each completion is ready (order not guaranteed)."""
        params = self.sampling(**sampling)
        yield from self._stream(list(prompts), params)

    @abstractmethod
    def _stream(self, prompts: list[Prompt], params: dict[str, Any]) -> Iterator[tuple[int, str]]: ...

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """What distinguishes this generator's outputs (part of the cache key; never secrets)."""


def weights_fingerprint(model: torch.nn.Module, samples: int = 4096) -> str:
    """A cheap, deterministic hash of a model's weights: its config, every parameter's name and shape, and up
    to ``samples`` evenly strided values of each parameter (so a 7B model hashes in well under a second)."""
    import hashlib

    h = hashlib.sha256()
    cfg = getattr(unwrap(model), "config", None)
    if cfg is not None and hasattr(cfg, "to_json_string"):
        h.update(cfg.to_json_string(use_diff=False).encode())
    with torch.no_grad():
        for name, p in model.named_parameters():
            h.update(f"{name}:{tuple(p.shape)}".encode())
            flat = p.detach().reshape(-1)
            h.update(flat[::max(1, flat.numel() // samples)].float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


class TransformersGenerator(TextGenerator):
    """A local transformers model as a generator (teachers, judges, proposers run offline)."""

    def __init__(self, backbone: BackboneConfig | None = None, *, model: torch.nn.Module | None = None,
                 tokenizer: Any = None, batch_size: int = 8, apply_chat_template: bool | None = None,
                 device: str | None = None, max_new_tokens: int = 128, temperature: float = 0.0,
                 top_p: float = 1.0, stop: list[str] | None = None, seed: int | None = None):
        super().__init__(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, stop=stop, seed=seed)
        if (backbone is None) == (model is None):
            raise ValueError("TransformersGenerator: give either `backbone` or `model` + `tokenizer`")
        self.backbone = backbone
        if model is None:
            model, tokenizer = backbone.build()
        if tokenizer is None:
            raise ValueError("TransformersGenerator: `tokenizer` is required with `model`")
        self.model, self.tokenizer = model.to(device or "cpu"), tokenizer
        self.batch_size, self.apply_chat_template = batch_size, apply_chat_template

    def identity(self) -> dict[str, Any]:
        """Everything that decides the text: the model source (name or tiny spec, revision, dtype, LoRA), a
        fingerprint of the weights actually loaded (two tiny models of one spec, or two checkpoints passed as
        ``model=``, differ there), and the chat-template choice. Computed once: for frozen models."""
        if getattr(self, "_identity", None) is None:
            b, base = self.backbone, unwrap(self.model)
            ident: dict[str, Any] = {"type": "transformers",
                                     "model": getattr(base.config, "_name_or_path", None) or type(base).__name__,
                                     "apply_chat_template": self.apply_chat_template,
                                     "weights": weights_fingerprint(self.model)}
            if b is not None:
                ident.update(model=b.name_or_path or json.dumps(asdict(b.tiny) if is_dataclass(b.tiny) else b.tiny,
                                                               sort_keys=True),
                             revision=b.revision, dtype=b.dtype,
                             lora=asdict(b.lora) if is_dataclass(b.lora) else b.lora)
            else:
                ident["dtype"] = str(next(self.model.parameters()).dtype)
            self._identity = ident
        return self._identity

    def _stream(self, prompts, params):
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start:start + self.batch_size]
            outs = sample_with_model(self.model, self.tokenizer, chunk, max_new_tokens=params["max_new_tokens"],
                                     temperature=params["temperature"], top_p=params["top_p"], stop=params["stop"],
                                     seed=params["seed"], apply_chat_template=self.apply_chat_template)
            yield from enumerate(outs, start=start)


class OpenAIGenerator(TextGenerator):
    """An OpenAI-compatible endpoint (OpenAI, vLLM, TGI) via the ``openai`` client.

    Retries with exponential backoff on 429 (honouring Retry-After), 5xx, timeouts and dropped connections
    are the ``openai`` client's own (``max_retries``); other 4xx errors fail at once with the server's
    message. The API key is read from the environment variable named by ``api_key_env`` (a variable name, not
    the key) and never logged; an error that quotes it (a server or proxy echoing headers) shows ``***``.
    """

    def __init__(self, model: str, base_url: str, *, api_key_env: str = "OPENAI_API_KEY",
                 endpoint: Literal["chat", "completions"] = "chat", max_concurrency: int = 8, max_retries: int = 5,
                 timeout: float = 60.0, max_new_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0,
                 stop: list[str] | None = None, seed: int | None = None):
        super().__init__(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, stop=stop, seed=seed)
        try:
            import openai
        except ImportError as e:  # pragma: no cover
            raise ImportError("OpenAIGenerator needs the `openai` extra: pip install 'lit-agents[openai]'") from e
        self.model, self.base_url, self.endpoint = model, base_url, endpoint
        self.max_concurrency = max(1, max_concurrency)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", api_key_env or ""):
            # not echoed: a key pasted here by mistake must not reach logs or error messages
            raise ValueError("OpenAIGenerator.api_key_env must be the NAME of an environment variable that holds "
                             "the API key (e.g. OPENAI_API_KEY), not the key itself")
        key = os.environ.get(api_key_env)
        if key is None:
            log.info("OpenAIGenerator: $%s is not set; sending a placeholder key (fine for local servers)",
                     api_key_env)
        self._secret = key or None
        self._client = openai.OpenAI(base_url=base_url, api_key=key or "EMPTY", max_retries=max_retries,
                                     timeout=timeout)

    def _redact(self, text: str) -> str:
        """``text`` with the API key replaced by ``***`` (a server or proxy may echo request headers)."""
        return text.replace(self._secret, "***") if self._secret else text

    def identity(self) -> dict[str, Any]:
        return {"type": "openai", "base_url": self.base_url, "model": self.model, "endpoint": self.endpoint}

    def _call(self, prompt: Prompt, params: dict[str, Any]) -> str:
        common = dict(model=self.model, max_tokens=params["max_new_tokens"], temperature=params["temperature"],
                      top_p=params["top_p"], stop=params["stop"] or None, seed=params["seed"])
        if self.endpoint == "chat":
            messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
            resp = self._client.chat.completions.create(messages=messages, **common)
            text = resp.choices[0].message.content
        else:
            if not isinstance(prompt, str):
                raise ValueError("the completions endpoint takes string prompts, not chat messages")
            resp = self._client.completions.create(prompt=prompt, **common)
            text = resp.choices[0].text
        if text is None:
            raise GenerationError("the server returned no text for this prompt")
        return truncate_at_stop(text, params["stop"])

    def _stream(self, prompts, params):
        failures: list[tuple[int, BaseException]] = []
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            futures = {pool.submit(self._call, p, params): i for i, p in enumerate(prompts)}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    yield i, fut.result()
                except Exception as e:  # noqa: BLE001 - reported together below
                    failures.append((i, e))
        if failures:
            first = failures[0][1]
            detail = f"{type(first).__name__}: {first}"
            msg = (f"{len(failures)} of {len(prompts)} calls to {self.base_url} failed after retries "
                   f"(first: {self._redact(detail)})")
            if self._redact(detail) != detail:  # the key is in the original error: do not chain it
                raise GenerationError(msg) from None
            raise GenerationError(msg) from first


def _cache_key(identity: dict, prompt: Prompt, params: dict) -> str:
    blob = json.dumps({"generator": identity, "prompt": prompt, "sampling": params}, sort_keys=True,
                      ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class CachedGenerator(TextGenerator):
    """A resumable on-disk cache in front of any generator.

    Each result is appended to ``path`` (JSONL: key, prompt, output) and flushed as soon as it arrives, so a
    killed run keeps every finished call. On start-up a truncated last line (a crash mid-write) is cut off;
    a later run calls the backend only for keys not in the file. Identical prompts in one call share a key.
    """

    def __init__(self, generator: TextGenerator, path: str, *, fsync: bool = True, progress: bool = True):
        super().__init__()
        self.generator, self.path, self.fsync, self.progress = generator, Path(path), fsync, progress
        self.defaults = generator.defaults
        self._cache: dict[str, str] = self._load()

    def identity(self) -> dict[str, Any]:
        return self.generator.identity()

    def _load(self) -> dict[str, str]:
        cache: dict[str, str] = {}
        data = repair_jsonl_tail(self.path)  # a crash mid-write: the partial record is dropped and redone
        for n, line in enumerate(data.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                cache[rec["key"]] = rec["output"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise DataError(f"corrupt cache record ({e}); delete or fix this line to continue",
                                path=self.path, line=n) from None
        return cache

    def __len__(self) -> int:
        return len(self._cache)

    def cached(self, prompts: Sequence[Prompt], **sampling: Any) -> list[bool]:
        """Whether each prompt's result (with these sampling settings) is already in the cache."""
        params, ident = self.sampling(**sampling), self.generator.identity()
        return [_cache_key(ident, p, params) in self._cache for p in prompts]

    def _stream(self, prompts, params):
        ident = self.generator.identity()
        keys = [_cache_key(ident, p, params) for p in prompts]
        missing: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k not in self._cache and k not in missing:
                missing[k] = i
        for i, k in enumerate(keys):
            if k in self._cache:
                yield i, self._cache[k]
        if not missing:
            return
        todo = list(missing.values())
        waiting: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            if k in missing:
                waiting.setdefault(k, []).append(i)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        bar = tqdm(total=len(todo), desc=f"generating -> {self.path.name}", disable=not self.progress, leave=False)
        with open(self.path, "a", encoding="utf-8") as f:
            try:
                for j, text in self.generator.generate_stream([prompts[i] for i in todo], **params):
                    key = keys[todo[j]]
                    f.write(json.dumps({"key": key, "prompt": prompts[todo[j]], "output": text},
                                       ensure_ascii=False) + "\n")
                    f.flush()
                    if self.fsync:
                        os.fsync(f.fileno())
                    self._cache[key] = text
                    bar.update(1)
                    for i in waiting[key]:
                        yield i, text
            except GenerationError as e:
                done = sum(1 for i in todo if keys[i] in self._cache)
                raise GenerationError(f"{e}. {done} of {len(todo)} new results were saved to {self.path}; "
                                      "re-run the same command to retry only the missing prompts") from e
            finally:
                bar.close()
