"""Tools in the box: calculator, typed Python functions (schema from type hints), BM25 search; the environment."""
import pytest

from lit_agents.tools.calculator import calculator
from lit_agents.tools.environment import ToolEnvironment
from lit_agents.tools.registry import FunctionTool
from lit_agents.tools.search import BM25Search


def test_calculator():
    assert calculator("(3 + 4) * 2") == 14
    assert calculator("7 / 2") == 3.5
    assert calculator("-2 ** 3 % 5") == 2
    for bad in ("__import__('os')", "2 ** 99999", "a + 1", "1 +"):
        with pytest.raises(ValueError):
            calculator(bad)


def convert(amount: float, currency: str = "EUR", exact: bool | None = None) -> str:
    """Convert an amount of US dollars.

    Args:
        amount: dollars to convert.
        currency: ISO code of the target currency.
    """
    return f"{amount} {currency}"


def test_schema_from_type_hints_and_checked_calls():
    tool = FunctionTool.from_function(convert)
    assert tool.name == "convert" and tool.description == "Convert an amount of US dollars."
    assert tool.parameters == {"amount": {"description": "dollars to convert.", "type": "float"},
                               "currency": {"description": "ISO code of the target currency.", "type": "str",
                                            "default": "EUR"},
                               "exact": {"description": "", "type": "bool, optional", "default": None}}
    assert tool.required == ["amount"]
    assert tool.describe(2).startswith("2. Name: convert\nDescription: Convert")
    assert tool.json_schema()["function"]["parameters"]["properties"]["amount"]["type"] == "number"
    assert tool(amount=3) == "3 EUR"
    with pytest.raises(ValueError, match="must be float"):
        tool(amount="3")
    with pytest.raises(ValueError, match="missing"):
        tool(currency="USD")
    with pytest.raises(ValueError, match="unknown"):
        tool(amount=1, rate=2)

    def untyped(x):
        return x
    with pytest.raises(TypeError, match="type hint"):
        FunctionTool.from_function(untyped)


def test_bm25_search_over_a_local_corpus(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"title": "Citibank", "text": "Citibank was founded in 1812 in New York."}\n'
                      '{"title": "James Madison", "text": "James Madison was US president from 1809 to 1817."}\n'
                      '{"title": "Paris", "text": "Paris is the capital of France."}\n')
    s = BM25Search(str(corpus), top_k=2)
    hits = s.search("When was Citibank founded?")
    assert hits[0].startswith("Citibank:") and len(hits) <= 2
    assert s.search("president 1812")[0].startswith("James Madison") or "1812" in s.search("president 1812")[0]
    assert s.search("zzz unknown") == []


def test_environment_steps_and_reports_errors(tmp_path):
    (tmp_path / "c.txt").write_text("alpha beta\ngamma delta\n")
    env = ToolEnvironment(functions=["lit_agents.tools.calculator.calculator"], search_corpus=str(tmp_path / "c.txt"),
                          max_turns=2)
    assert set(env.tools) == {"calculator", "search"}
    assert "1. Name: calculator" in env.describe()
    ep = env.fork().reset({"id": 1})
    obs = ep.step([{"name": "calculator", "parameters": {"expression": "6*7"}},
                   {"name": "search", "parameters": {"query": "gamma"}},
                   {"name": "nope", "parameters": {}},
                   {"name": "calculator", "parameters": {"expression": "1/0"}}])
    assert obs[0] == {"name": "calculator", "results": 42}
    assert obs[1] == {"name": "search", "results": ["gamma delta"]}
    assert "unknown tool" in obs[2]["error"] and "ZeroDivisionError" in obs[3]["error"]
    assert ep.calls_made == 4 and env.calls_made == 0  # episodes do not share counters
    text = ep.observation_text(obs[:1])
    assert text == '\n<obs> [{"name": "calculator", "results": 42}] </obs>\n'
    ep.turn = 1
    assert ep.finished("<think>x</think>\n<response>42</response>", called=False)
    assert not ep.finished("<think>x</think>\n<tool_call>...</tool_call>", called=True)
    ep.turn = 2
    assert ep.finished("<tool_call>...</tool_call>", called=True)  # max_turns
