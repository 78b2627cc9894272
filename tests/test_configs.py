"""Every shipped YAML parses against the code (LitGPT's test_config_hub, torchtune's test_configs)."""

from pathlib import Path

import pytest

from lit_agents.cli import run_cli as cli

REPO = Path(__file__).resolve().parents[1]
METHOD_CONFIGS = sorted(p for p in (REPO / "configs").rglob("*.yaml") if "trainer" not in p.parts)
FRAGMENTS = sorted((REPO / "configs" / "trainer").glob("*.yaml"))


def _print_config(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli(args)
    assert exit_info.value.code in (0, None), capsys.readouterr().err
    return capsys.readouterr().out


@pytest.mark.parametrize("path", METHOD_CONFIGS, ids=lambda p: str(p.relative_to(REPO / "configs")))
def test_config_parses(path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    out = _print_config(["fit", "--config", str(path), "--print_config"], capsys)
    assert "class_path" in out


@pytest.mark.parametrize("fragment", FRAGMENTS, ids=lambda p: p.name)
def test_fragment_composes_with_sft(fragment, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    out = _print_config(["fit", "--config", "configs/sft.yaml", "--config", str(fragment), "--print_config"], capsys)
    assert "trainer:" in out


def test_unknown_class_path_names_the_key(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(SystemExit) as exit_info:
        cli(["fit", "--config", "configs/sft.yaml", "--model.class_path", "lit_agents.methods.nope.Missing",
             "--print_config"])
    assert exit_info.value.code != 0
    assert "model" in capsys.readouterr().err
