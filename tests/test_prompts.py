"""The one prompt loader: a bundled name (with or without ``.txt``) or a path; one error for anything else."""
import pytest

from lit_agents.fileio import DataError
from lit_agents.prompts import PROMPTS_DIR, PromptNotFoundError, bundled_prompts, load_prompt

NAME = "rm_r1_retry_hint"


def test_bundled_name_with_and_without_txt():
    text = (PROMPTS_DIR / f"{NAME}.txt").read_text(encoding="utf-8")
    assert NAME in bundled_prompts()
    assert load_prompt(NAME) == text
    assert load_prompt(f"{NAME}.txt") == text


def test_a_path_is_read_on_every_call(tmp_path):
    p = tmp_path / "custom.txt"
    p.write_text("Judge {x}.\n", encoding="utf-8")
    assert load_prompt(str(p)) == load_prompt(p) == "Judge {x}.\n"
    p.write_text("changed\n", encoding="utf-8")
    assert load_prompt(str(p)) == "changed\n"  # a path's content is not cached
    q = tmp_path / "no_suffix"
    q.write_text("plain", encoding="utf-8")
    assert load_prompt(str(q)) == "plain"


def test_missing_name_raises_the_one_error():
    with pytest.raises(PromptNotFoundError, match=r"no_such_prompt_xyz: prompt not found.*bundled prompts") as e:
        load_prompt("no_such_prompt_xyz")
    # a located DataError (the CLI's one-line input error) and a FileNotFoundError (what callers caught before)
    assert isinstance(e.value, DataError) and isinstance(e.value, FileNotFoundError)
    assert e.value.path == "no_such_prompt_xyz"


def test_missing_path_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "judge.txt"
    with pytest.raises(PromptNotFoundError) as e:
        load_prompt(str(missing))
    assert str(missing) in str(e.value) and e.value.path == str(missing)
    with pytest.raises(PromptNotFoundError, match="prompt not found"):
        load_prompt("")
