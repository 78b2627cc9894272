import pytest

from lit_agents.dotted import import_callable


def test_import_callable_resolves_and_names_what_failed():
    assert import_callable("lit_agents.rewards.judgment_rewards").__name__ == "judgment_rewards"
    with pytest.raises(ValueError, match="tool function 'calculator' must be a dotted import path"):
        import_callable("calculator", "tool function")
    with pytest.raises(ValueError, match="cannot import reward function 'lit_agents.rewards.nope'"):
        import_callable("lit_agents.rewards.nope", "reward function")
    with pytest.raises(ValueError, match="is not callable"):
        import_callable("lit_agents.dotted.__doc__")
