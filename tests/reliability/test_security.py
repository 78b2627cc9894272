"""Security (issue 9, part 5): nothing a file or a server hands lit-agents gets to run code, read or write outside
where it should, or see an API key.

- Checkpoints load with ``torch.load(weights_only=True)`` everywhere (``AtomicCheckpointIO`` for every CLI
  subcommand, ``DiffusionPlanner(init_from=...)``, the FSDP strategy), even with
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``: a checkpoint carrying a pickled object whose ``__reduce__`` writes a
  file is refused and the file is never written. Caches are JSON / JSONL / ``.npz`` without pickle (checked
  statically here, along with every ``torch.load`` / ``np.load`` / ``pickle`` call of the package).
- ``trust_remote_code`` is off unless the config sets it: a local model directory whose ``auto_map`` points
  at a Python file that writes a marker loads the built-in class (or fails, naming ``trust_remote_code``)
  without running that file; no shipped file turns it on.
- API keys come from named environment variables and appear in no artefact of a real CLI run (saved config,
  checkpoints, logs, W&B offline run, caches, stdout/stderr) nor in any error, even when the server echoes
  the request's ``Authorization`` header back; the test server requires the key, so the runs prove it was sent.
- File names read from data files (manifests, cache indexes, game ids that name files, ``.7z`` members) stay
  inside their directory: ``..``, absolute paths and symlinks out raise ``DataError`` naming file, record and
  field (``data_modules.io.resolve_inside``); crafted zip-slip archives extract nothing.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import re
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lit_agents.checkpoint_io import AtomicCheckpointIO
from lit_agents.fileio import DataError, resolve_inside
from lit_agents.generation import CachedGenerator, GenerationError, OpenAIGenerator, TextGenerator
from lit_agents.serve import OpenAICompatibleServer
from tests.helpers import REPO, run_cli, tiny_backbone

KEY_ENV = "LIT_AGENTS_TEST_API_KEY"
KEY = "sk-litagents-" + "Qx7vR2" * 6          # what must never be written anywhere
WANDB_KEY = "0f3c9a" * 6 + "beef"              # a 40-character fake W&B key, also never written
SOURCE_DIRS = ("lit_agents", "data_modules", "configs", "examples", "benchmarks")


# ---------------------------------------------------------------- checkpoints


class _WritesFile:
    """Unpickling this runs ``open(marker, "w")``: the stand-in for arbitrary code inside a checkpoint."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _tampered_checkpoint(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {}, "epoch": 0, "global_step": 0, "pytorch-lightning_version": "2.6.6",
                "payload": _WritesFile(marker)}, path)
    return path


def test_tampered_checkpoint_is_refused_by_every_loader(tmp_path, monkeypatch, reliability_log):
    from lightning.fabric.utilities.load import _lazy_load

    from lit_agents.methods.diffusion_planner import DiffusionPlanner, UNetConfig
    from lit_agents.strategies import BackboneFSDPStrategy

    marker = tmp_path / "EXECUTED"
    ckpt = _tampered_checkpoint(tmp_path / "tampered.ckpt", marker)
    # control: an unrestricted unpickler runs the payload (torch.load's full pickle, and the lazy loader that
    # Lightning's FSDP strategy uses for single-file checkpoints)
    for unsafe in (lambda: torch.load(ckpt, weights_only=False), lambda: _lazy_load(ckpt)):
        unsafe()
        assert marker.exists()
        marker.unlink()

    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # would flip torch.load's default to unsafe
    loaders = {
        "AtomicCheckpointIO": lambda: AtomicCheckpointIO().load_checkpoint(ckpt),
        "DiffusionPlanner(init_from)": lambda: DiffusionPlanner(horizon=8, net=UNetConfig(dim=8, dim_mults=[1, 2]),
                                                                init_from=str(ckpt)),
        "BackboneFSDPStrategy.load_checkpoint": lambda: BackboneFSDPStrategy().load_checkpoint(ckpt),
    }
    for name, load in loaders.items():
        with pytest.raises(pickle.UnpicklingError, match="refusing to load checkpoint") as err:
            load()
        assert str(ckpt) in str(err.value) and "io.open" in str(err.value), name
        assert not marker.exists(), f"{name} ran the checkpoint's code"
    with pytest.raises(ValueError, match="weights_only=False"):
        AtomicCheckpointIO().load_checkpoint(ckpt, weights_only=False)
    assert not marker.exists()

    good = tmp_path / "good.ckpt"  # a checkpoint of plain values still loads
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(2)}, "global_step": 3,
                                          "loops": {"x": (1, 2.5, "a", None)}}, good)
    assert AtomicCheckpointIO().load_checkpoint(good)["global_step"] == 3
    reliability_log("security", "tampered checkpoint (pickled object whose __reduce__ writes a file) loaded by "
                    "AtomicCheckpointIO, DiffusionPlanner(init_from) and BackboneFSDPStrategy, with "
                    "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1",
                    "refused with UnpicklingError naming the file and the global; nothing ran (an unrestricted "
                    "unpickler does run it); weights_only=False refused", tried=len(loaders) + 1)


SFT_TINY = ["--config", "configs/sft.yaml", "--trainer.max_steps", "1", "--trainer.limit_val_batches", "1",
            "--trainer.limit_test_batches", "1", "--trainer.limit_predict_batches", "1",
            "--data.init_args.max_train_records", "8", "--model.init_args.max_length", "128",
            "--model.init_args.num_val_samples", "0"]

RELIABLE_TINY = ["--config", "configs/reliable.yaml", "--trainer.limit_test_batches", "1",
                 "--data.init_args.synthetic.n_games", "3", "--data.init_args.synthetic.max_possessions", "3",
                 "--data.init_args.cache_dir", "{tmp}/cache"]


@pytest.mark.slow
def test_cli_resume_refuses_tampered_checkpoint(tmp_path, reliability_log):
    """``lit-agents fit --ckpt_path last`` (a subprocess, the real entry point) where ``last.ckpt`` was tampered
    with; ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` would make Lightning's own loader unpickle it."""
    marker = tmp_path / "EXECUTED"
    _tampered_checkpoint(tmp_path / "checkpoints" / "last.ckpt", marker)
    proc = run_cli(["fit", *SFT_TINY, "--ckpt_path", "last"], tmp_path, check=False,
                   env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"})
    assert proc.returncode != 0
    assert "refusing to load checkpoint" in proc.stderr and "last.ckpt" in proc.stderr, proc.stderr[-3000:]
    assert not marker.exists()
    reliability_log("security", "`lit-agents fit --ckpt_path last` on a tampered last.ckpt "
                    "(TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1)", "run stops before training with a clear error naming "
                    "the file; the payload never runs")


@pytest.mark.parametrize("subcommand,ckpt", [("validate", "last"), ("test", "last"), ("predict", "last"),
                                             ("fit", "explicit")])
def test_every_cli_subcommand_refuses_tampered_checkpoint(subcommand, ckpt, tmp_path, monkeypatch, reliability_log):
    """In-process CLI runs: validate/test/predict restore through the same weights_only CheckpointIO as fit,
    and an explicit ``--ckpt_path FILE`` (whose hyperparameters LightningCLI reads first) is refused too."""
    from lit_agents.cli import run_cli as cli

    monkeypatch.chdir(REPO)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "EXECUTED"
    path = _tampered_checkpoint(tmp_path / "checkpoints" / "last.ckpt", marker)
    config = RELIABLE_TINY if subcommand == "test" else SFT_TINY  # SFT has no test_step
    args = [subcommand, *[a.replace("{tmp}", str(tmp_path)) for a in config], "--trainer.default_root_dir",
            str(tmp_path), "--trainer.logger", "false", "--ckpt_path", "last" if ckpt == "last" else str(path)]
    with pytest.raises(pickle.UnpicklingError, match="refusing to load checkpoint") as err:
        cli(args)
    assert str(path) in str(err.value)
    assert not marker.exists()
    shown = "last" if ckpt == "last" else "FILE"
    reliability_log("security", f"`lit-agents {subcommand} --ckpt_path {shown}` on a tampered checkpoint",
                    "refused (UnpicklingError naming the file); the payload never runs")


def test_tampered_caches_never_unpickle(tmp_path, reliability_log):
    """The entity matcher's automaton cache (pyahocorasick) is replaced by a STORE_ANY automaton whose values are
    pickled payloads, with a matching checksum (whoever can write the cache can write both): loading it refuses
    to deserialise anything. (The other caches are JSON/JSONL or ``.npz`` read without pickle: see the static
    scan below.)"""
    import ahocorasick

    from data_modules.cloze import EntityMatcher, file_sha256

    marker = tmp_path / "EXECUTED"
    gaz = tmp_path / "gaz.tsv"
    gaz.write_text("Paris\tGPE\nNew York\tGPE\n")
    cache = tmp_path / "cache"
    EntityMatcher(gaz, cache_dir=cache)
    auto_path = next(cache.glob("*.automaton"))
    meta_path = auto_path.with_suffix(".json")
    evil = ahocorasick.Automaton(ahocorasick.STORE_ANY)
    evil.add_word("Paris", _WritesFile(marker))
    evil.make_automaton()
    evil.save(str(auto_path), pickle.dumps)
    ahocorasick.load(str(auto_path), pickle.loads)  # control: a pickle deserialiser runs the payload
    assert marker.exists()
    marker.unlink()
    meta = json.loads(meta_path.read_text())
    meta["automaton_sha256"] = file_sha256(auto_path)
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(RuntimeError, match="refusing to"):
        EntityMatcher(gaz, cache_dir=cache)
    assert not marker.exists()
    reliability_log("security", "tampered cache: entity-matcher automaton replaced by a STORE_ANY one holding "
                    "a pickled payload (checksum updated to match)",
                    "refused (integer-only automata, nothing deserialised); the payload never runs")


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            yield node, owner, name, kw


def _is_true(node) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _python_files():
    for d in SOURCE_DIRS:
        yield from sorted((REPO / d).rglob("*.py"))


def test_no_loader_in_the_package_unpickles_arbitrary_objects(reliability_log):
    """Static: every ``torch.load`` passes ``weights_only=True``; no ``np.load(allow_pickle=True)``, no
    ``pickle``/``dill``/``joblib``/``cloudpickle`` loads; caches are written as JSON, npz or STORE_INTS."""
    bad, n = [], 0
    for f in _python_files():
        tree = ast.parse(f.read_text(encoding="utf-8"), filename=str(f))
        for node, owner, name, kw in _calls(tree):
            where = f"{f.relative_to(REPO)}:{node.lineno}"
            if owner == "torch" and name == "load":
                n += 1
                if not _is_true(kw.get("weights_only")):
                    bad.append(f"{where}: torch.load without weights_only=True")
            elif owner in ("np", "numpy") and name == "load":
                n += 1
                if "allow_pickle" in kw and not (isinstance(kw["allow_pickle"], ast.Constant)
                                                 and kw["allow_pickle"].value is False):
                    bad.append(f"{where}: np.load(allow_pickle=...)")
            elif owner in ("pickle", "dill", "joblib", "cloudpickle", "_pickle") and name in ("load", "loads"):
                bad.append(f"{where}: {owner}.{name}")
            elif name in ("Unpickler",):
                bad.append(f"{where}: {name}")
    assert not bad, "\n".join(bad)
    assert n >= 3  # the check saw the package's loaders
    reliability_log("security", "static scan of lit_agents/, data_modules/, examples/, benchmarks/ for unsafe "
                    "loaders", f"every torch.load has weights_only=True, np.load never allows pickle, no pickle "
                    f"loads ({n} loader calls checked)")


# ---------------------------------------------------------------- trust_remote_code


REMOTE_CODE = """
import pathlib
pathlib.Path({marker!r}).write_text("remote code ran")
from transformers import LlamaConfig, LlamaForCausalLM

class EvilConfig(LlamaConfig):
    model_type = {model_type!r}

class EvilModel(LlamaForCausalLM):
    config_class = EvilConfig
"""


def _model_dir_with_remote_code(root: Path, marker: Path, model_type: str) -> Path:
    """A saved tiny Llama whose config.json has an ``auto_map`` to ``evil.py`` (which writes ``marker``)."""
    model, tok = tiny_backbone("llama").build()
    model.save_pretrained(root)
    tok.save_pretrained(root)
    cfg = json.loads((root / "config.json").read_text())
    cfg["model_type"] = model_type
    cfg["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"}
    (root / "config.json").write_text(json.dumps(cfg))
    (root / "evil.py").write_text(REMOTE_CODE.format(marker=str(marker), model_type=model_type))
    return root


def test_remote_code_in_a_model_directory_never_runs_by_default(tmp_path, reliability_log):
    from lit_agents.backbone import BackboneConfig

    marker = tmp_path / "EXECUTED"
    known = _model_dir_with_remote_code(tmp_path / "known", marker, "llama")
    unknown = _model_dir_with_remote_code(tmp_path / "unknown", marker, "lit-agents-evil")

    model, _ = BackboneConfig(name_or_path=str(known)).build()  # built-in class, auto_map ignored
    assert type(model).__module__.startswith("transformers.models.llama")
    assert not marker.exists()
    with pytest.raises(ValueError, match="trust_remote_code"):  # only the remote code could load it
        BackboneConfig(name_or_path=str(unknown)).build()
    assert not marker.exists()

    # control, in a subprocess with its own modules cache: trusting the directory does run its code
    code = ("from transformers import AutoConfig\n"
            f"AutoConfig.from_pretrained({str(unknown)!r}, trust_remote_code=True)\n")
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120)
    assert marker.exists(), "control failed: trust_remote_code=True did not run the directory's code"
    reliability_log("security", "local model directory whose config.json auto_map points at a file that writes "
                    "a marker (known and unknown model_type), loaded with the default BackboneConfig",
                    "known type loads the built-in class, unknown type fails naming trust_remote_code; the file "
                    "never runs (it does with trust_remote_code=True)", tried=2)


def test_no_shipped_file_turns_trust_remote_code_on(reliability_log):
    from lit_agents.backbone import BackboneConfig

    assert BackboneConfig().trust_remote_code is False
    on = re.compile(r"trust_remote_code[\"']?\s*[:=]\s*[\"']?(true|1|yes|on)\b", re.IGNORECASE)
    hits, n = [], 0
    for d in SOURCE_DIRS:
        for f in sorted((REPO / d).rglob("*")):
            if f.suffix not in (".py", ".yaml", ".yml", ".json", ".toml") or not f.is_file():
                continue
            n += 1
            for i, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
                if on.search(line):
                    hits.append(f"{f.relative_to(REPO)}:{i}: {line.strip()}")
    # and every from_pretrained call either passes the config's flag or leaves transformers' default (False)
    for f in _python_files():
        for node, _, name, kw in _calls(ast.parse(f.read_text(encoding="utf-8"))):
            if name == "from_pretrained" and "trust_remote_code" in kw and isinstance(kw["trust_remote_code"],
                                                                                        ast.Constant):
                if kw["trust_remote_code"].value:
                    hits.append(f"{f.relative_to(REPO)}:{node.lineno}: from_pretrained(trust_remote_code=True)")
    assert not hits, "\n".join(hits)
    reliability_log("security", f"static scan of {n} code/config files for trust_remote_code turned on",
                    "none: BackboneConfig.trust_remote_code defaults to False and nothing sets it")


# ---------------------------------------------------------------- API keys


class _Verdicts(TextGenerator):
    """The server's model (the remote LLM does not run here): a CoR judgment ending in verdict A."""

    def _stream(self, prompts, params):
        for i, _ in enumerate(prompts):
            yield i, "The first answer is more harmless. <answer>[[A]]</answer>"

    def identity(self) -> dict:
        return {"type": "verdicts"}


class _EchoAuth:
    """A server fault that answers HTTP 500 quoting the request's Authorization header (a leaky proxy)."""

    def __init__(self):
        self.seen: list[str] = []

    def __call__(self, handler) -> bool:
        auth = handler.headers.get("Authorization", "")
        self.seen.append(auth)
        handler._send(500, {"error": {"message": f"upstream rejected request with Authorization: {auth}"}})
        return True


@pytest.fixture()
def keyed_server():
    srv = OpenAICompatibleServer(_Verdicts(), model_name="oracle", api_key=KEY).start()
    yield srv
    srv.stop()


def _no_key(text: str | bytes, where: str) -> None:
    data = text.encode() if isinstance(text, str) else text
    for secret in (KEY, WANDB_KEY):
        assert secret.encode() not in data, f"secret leaked into {where}"


def test_api_key_never_appears_in_errors(keyed_server, tmp_path, monkeypatch, reliability_log):
    srv = keyed_server
    monkeypatch.setenv(KEY_ENV, KEY)
    gen = OpenAIGenerator("oracle", srv.url, api_key_env=KEY_ENV, max_retries=0, max_concurrency=1, timeout=10)
    assert gen.generate(["Which is better?"])[0].endswith("[[A]]</answer>")  # the server checked the key
    assert KEY not in json.dumps(gen.identity())

    monkeypatch.setenv(KEY_ENV, KEY[::-1])  # a wrong key: HTTP 401
    wrong = OpenAIGenerator("oracle", srv.url, api_key_env=KEY_ENV, max_retries=0, timeout=10)
    with pytest.raises(GenerationError, match="401") as err:
        wrong.generate(["x"])
    for secret in (KEY, KEY[::-1]):
        assert secret not in "".join(traceback.format_exception(err.value))

    monkeypatch.setenv(KEY_ENV, KEY)
    echo = _EchoAuth()
    srv.add_faults([echo] * 4)
    cache = tmp_path / "cache.jsonl"
    cached = CachedGenerator(OpenAIGenerator("oracle", srv.url, api_key_env=KEY_ENV, max_retries=0,
                                             max_concurrency=1, timeout=10), str(cache), progress=False)
    with pytest.raises(GenerationError) as err:
        cached.generate(["a", "b"])
    assert any(KEY in s for s in echo.seen)  # the server really sent the key back
    full = "".join(traceback.format_exception(err.value))
    _no_key(full, "the error and its traceback")
    assert "***" in str(err.value) and "re-run the same command" in str(err.value)
    if cache.exists():
        _no_key(cache.read_bytes(), "the cache")

    with pytest.raises(ValueError, match="NAME of an environment variable") as err:
        OpenAIGenerator("oracle", srv.url, api_key_env=KEY)  # the key pasted where its variable's name goes
    _no_key("".join(traceback.format_exception(err.value)), "the config error")
    reliability_log("security", "API key vs errors: wrong key (HTTP 401), a server echoing the Authorization "
                    "header in HTTP 500 (through CachedGenerator), the key pasted as api_key_env",
                    "errors and tracebacks never contain the key (redacted to ***, unchained); the echoed key "
                    "does not reach the cache", tried=3)


def _oracle_run_args(tmp_path: Path, url: str, retries: int = 1) -> list[str]:
    oracle = json.dumps({"class_path": "lit_agents.generation.OpenAIGenerator",
                         "init_args": {"model": "oracle", "base_url": url, "api_key_env": KEY_ENV,
                                       "max_retries": retries, "max_concurrency": 2, "timeout": 20}})
    pairs = json.dumps([{"path": str(REPO / "data_modules/samples/rm_r1/hh_harmless_train.jsonl"), "limit": 4}])
    return ["fit", "--config", "configs/rm_r1_distill.yaml", "--config", "configs/trainer/wandb.yaml",
            "--trainer.logger.init_args.save_dir", str(tmp_path), "--trainer.max_steps", "2",
            "--trainer.limit_val_batches", "0", "--data.init_args.pairs", pairs, "--data.init_args.val", "[]",
            "--data.init_args.traces_path", str(tmp_path / "traces.jsonl"), "--data.init_args.oracle", oracle,
            "--data.init_args.max_new_tokens", "32",
            "--model.init_args.export_dir", str(tmp_path / "policy")]


def _grep_tree(root: Path) -> int:
    n = 0
    for f in root.rglob("*"):
        if f.is_file() and not f.is_symlink():
            _no_key(f.read_bytes(), str(f))
            n += 1
    return n


@pytest.mark.slow
def test_api_key_appears_in_no_artefact_of_a_run(keyed_server, tmp_path, reliability_log):
    """A real ``lit-agents fit`` (RM-R1 trace collection from an OpenAI-compatible oracle that requires the key,
    then SFT) with the offline W&B logger: every file the run wrote, stdout and stderr are searched for the key;
    then the same run against a server that echoes the key in HTTP 500s must fail without printing it."""
    srv = keyed_server
    env = {KEY_ENV: KEY, "WANDB_API_KEY": WANDB_KEY, "WANDB_MODE": "offline"}
    ok = tmp_path / "ok"
    proc = run_cli(_oracle_run_args(ok, srv.url), ok, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert srv.requests_served >= 4  # the key was sent and accepted (the server answers 401 otherwise)
    assert (ok / "traces.jsonl").is_file() and list((ok / "wandb").glob("offline-run-*")), "run artefacts missing"
    saved = list(ok.rglob("config.yaml"))
    assert saved and KEY_ENV in saved[0].read_text()  # the config names the variable, not its value
    assert list(ok.rglob("*.ckpt"))
    n_files = _grep_tree(ok)
    _no_key(proc.stdout + proc.stderr, "stdout/stderr")

    bad = tmp_path / "echo"
    echo = _EchoAuth()
    srv.add_faults([echo] * 40)
    proc = run_cli(_oracle_run_args(bad, srv.url, retries=0), bad, env=env, check=False)
    assert proc.returncode != 0 and "failed after retries" in proc.stderr, proc.stderr[-4000:]
    assert any(KEY in s for s in echo.seen)
    _no_key(proc.stdout + proc.stderr, "stdout/stderr of the failed run")
    n_files += _grep_tree(bad)
    reliability_log("security", "API key (and a W&B key) in the environment of a real CLI run: OpenAI-compatible "
                    "oracle requiring the key + W&B offline logger; then a server echoing the key in HTTP 500s",
                    f"key found in none of {n_files} files (config, checkpoints, W&B run, traces, caches, logs) "
                    "nor stdout/stderr; the failing run's error shows *** instead", tried=2)


# ---------------------------------------------------------------- paths from data files


def test_resolve_inside_refuses_escapes(tmp_path, reliability_log):
    base = tmp_path / "data"
    (base / "sub").mkdir(parents=True)
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (base / "link_out").symlink_to(outside)
    (base / "dir_out").symlink_to(tmp_path)
    (base / "link_in").symlink_to(base / "sub")
    ok = {"a.json": base / "a.json", "sub/b.npz": base / "sub/b.npz", "sub/../c": base / "sub/../c",
          "link_in/x": base / "link_in/x"}
    for rel, want in ok.items():
        assert resolve_inside(base, rel) == want
    escapes = ["../secret.txt", "../../etc/passwd", "sub/../../secret.txt", "/etc/passwd", str(outside),
               "link_out", "dir_out/secret.txt", "", ".", "a\x00b"]
    for rel in escapes:
        with pytest.raises(DataError) as err:
            resolve_inside(base, rel, path="manifest.json", line=7, field="shard")
        assert (err.value.path, err.value.line, err.value.field) == ("manifest.json", 7, "shard"), rel
        assert "manifest.json" in str(err.value) and "line 7" in str(err.value)
    reliability_log("security", "file names from data files: '..', absolute, symlink to a file / a directory "
                    "outside, empty, NUL", "DataError naming file, line and field", tried=len(escapes))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.sampled_from(["..", ".", "a", "b", "c.json", ""]), min_size=1, max_size=6))
def test_resolve_inside_matches_lexical_containment(tmp_path, reliability_log, parts):
    base = tmp_path / "base"
    rel = "/".join(parts)
    depth, escapes = 0, False
    for p in rel.split("/"):
        if p == "..":
            depth -= 1
            escapes |= depth < 0
        elif p not in ("", "."):
            depth += 1
    escapes |= depth <= 0 or rel.startswith("/")  # the directory itself is not a file inside it; absolute
    try:
        got = resolve_inside(base, rel, path="f.jsonl", line=1, field="file")
    except DataError:
        assert escapes
        reliability_log.count("security", "random relative names made of '..', '.', names (property test)",
                              "refused exactly when they leave the directory")
        return
    assert not escapes and got.resolve().is_relative_to(base.resolve())
    reliability_log.count("security", "random relative names made of '..', '.', names (property test)",
                          "refused exactly when they leave the directory")


def _seven_zip(path: Path, members: dict[str, bytes]) -> Path:
    import py7zr

    with py7zr.SevenZipFile(path, "w") as z:
        for name, data in members.items():
            z._writestr(data, name)  # the private writer: py7zr's public one refuses bad names itself
    return path


GAME = json.dumps({"gameid": "0021500001", "gamedate": "2016-01-01", "events": []}).encode()


def test_7z_members_cannot_escape_the_extraction_directory(tmp_path, reliability_log):
    import py7zr

    from data_modules.basketball.sportvu import read_sportvu_game

    work = tmp_path / "work"
    work.mkdir()
    cases = {"../../slip.json": "escapes", "../slip.json": "escapes", str(tmp_path / "abs.json"): "absolute"}
    for i, (member, why) in enumerate(cases.items()):
        archive = _seven_zip(work / f"g{i}.7z", {member: GAME})
        with pytest.raises(DataError, match=why) as err:
            read_sportvu_game(archive)
        assert err.value.field == "archive member" and str(archive) in str(err.value)
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"gameid": "SECRET", "events": []}))
    (work / "game.json").symlink_to(secret)
    with py7zr.SevenZipFile(work / "link.7z", "w", dereference=False) as z:
        z.write(work / "game.json", arcname="game.json")
    with pytest.raises(DataError, match="symbolic link") as err:
        read_sportvu_game(work / "link.7z")
    assert err.value.field == "archive member"
    assert not list(tmp_path.rglob("slip.json")) and not (tmp_path / "abs.json").exists()
    assert read_sportvu_game(_seven_zip(work / "fine.7z", {"game.json": GAME})).game_id == "0021500001"
    reliability_log("security", "crafted .7z game archives: member '../../x.json', '../x.json', an absolute "
                    "member name, a member that is a symlink to a file outside",
                    "DataError naming the archive and field 'archive member'; nothing written outside",
                    tried=len(cases) + 1)


def test_game_ids_naming_files_cannot_escape(tmp_path, reliability_log):
    """A game's ``gameid`` names its play-by-play CSV, truth file and npz shard."""
    from data_modules.basketball.preprocess import PreprocessSpec, preprocess_games

    games = tmp_path / "games"
    games.mkdir()
    bad = games / "g.json"
    for gid in ("../../pwned", "/tmp/pwned"):
        bad.write_text(json.dumps({"gameid": gid, "gamedate": "2016-01-01", "events": []}))
        with pytest.raises(DataError) as err:
            preprocess_games([bad], tmp_path / "out" / "shards", PreprocessSpec())
        assert err.value.field == "gameid" and str(bad) in str(err.value)
    assert not list(tmp_path.rglob("pwned*"))
    reliability_log("security", "SportVU game whose gameid is '../../x' or absolute (it names the pbp CSV, truth "
                    "file and shard)", "DataError naming the game file and field 'gameid'; no file written",
                    tried=2)


def test_cache_indexes_cannot_point_outside(tmp_path, reliability_log):
    """ReLiable's ``manifest.json`` (shard names) and the synthetic games' ``done.json`` (file names) are read
    back on the next run: tampered entries ('..', a symlink out) are refused, naming file, record and field."""
    from data_modules.basketball.transition_data import ReLiableDataModule
    from data_modules.basketball.sources import SyntheticGames, game_paths

    synthetic = SyntheticGames(n_games=3, max_possessions=3)
    dm = ReLiableDataModule(synthetic=synthetic, cache_dir=str(tmp_path / "cache"))
    dm.prepare_data()
    manifest = next((tmp_path / "cache").rglob("manifest.json"))
    shards = manifest.parent
    outside = tmp_path / "outside.npz"
    outside.write_bytes(b"not a shard")
    (shards / "innocent.npz").symlink_to(outside)
    original = json.loads(manifest.read_text())
    for shard in ("../../../outside.npz", str(outside), "innocent.npz"):
        m = json.loads(json.dumps(original))
        m["games"][1]["shard"] = shard
        manifest.write_text(json.dumps(m))
        for d in shards.parent.glob("split_*"):  # force the splits to be rebuilt from the manifest
            for done in d.rglob("done"):
                done.unlink()
        with pytest.raises(DataError) as err:
            dm.prepare_data()
        assert (err.value.line, err.value.field) == (2, "shard") and "manifest.json" in str(err.value), shard

    done = next((tmp_path / "cache" / "synthetic").rglob("done.json"))
    names = json.loads(done.read_text())
    done.write_text(json.dumps([names[0], "../../../../etc/passwd"]))
    with pytest.raises(DataError) as err:
        game_paths(synthetic, [], tmp_path / "cache")
    assert (err.value.line, err.value.field) == (2, "game file") and "done.json" in str(err.value)
    reliability_log("security", "tampered cache indexes: manifest.json shard '../../x.npz', absolute, a symlink "
                    "to a file outside; done.json game file '../../../../etc/passwd'",
                    "DataError naming the index, record and field; nothing read from outside", tried=4)
