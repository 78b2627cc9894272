"""Tools from typed Python functions: the schema shown to the model is derived from the signature, the type
hints and the docstring (first line = description, a Google-style ``Args:`` section = parameter descriptions)."""
from __future__ import annotations

import inspect
import json
import re
import typing
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

from lit_agents.dotted import import_callable

_TYPE_NAMES = {str: "str", int: "int", float: "float", bool: "bool", list: "list", dict: "dict"}
_JSON_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "list": "array",
               "dict": "object"}


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if hint in _TYPE_NAMES:
        return _TYPE_NAMES[hint]
    if origin in (list, tuple):
        return "list"
    if origin is dict:
        return "dict"
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return ", ".join(_type_name(a) for a in args) + (", optional" if len(args) < len(typing.get_args(hint)) else "")
    return getattr(hint, "__name__", str(hint))


def _arg_docs(doc: str) -> dict[str, str]:
    out: dict[str, str] = {}
    m = re.search(r"^\s*Args:\s*$(.*?)(^\s*\w+:\s*$|\Z)", doc, re.M | re.S)
    if not m:
        return out
    for line in m.group(1).splitlines():
        mm = re.match(r"\s*(\w+)\s*(\([^)]*\))?:\s*(.*)", line)
        if mm:
            out[mm.group(1)] = mm.group(3).strip()
    return out


def _check_value(value: Any, hint: Any) -> bool:
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_check_value(value, a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    base = origin or hint
    return isinstance(value, base) if isinstance(base, type) else True


@dataclass
class FunctionTool:
    """A callable tool with the schema the model sees (``name``, ``description``, ``parameters``)."""

    name: str
    description: str
    parameters: dict[str, dict[str, Any]]
    fn: Callable[..., Any] = field(repr=False)
    hints: dict[str, Any] = field(default_factory=dict, repr=False)
    required: list[str] = field(default_factory=list)

    @classmethod
    def from_function(cls, fn: Callable[..., Any], name: str | None = None) -> FunctionTool:
        """The tool of a function whose every parameter has a type hint (raises ``TypeError`` otherwise)."""
        sig = inspect.signature(fn)
        hints = typing.get_type_hints(fn)
        doc = inspect.getdoc(fn) or ""
        arg_docs = _arg_docs(doc)
        params: dict[str, dict[str, Any]] = {}
        required = []
        for p in sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.name not in hints:
                raise TypeError(f"tool {fn.__name__}: parameter {p.name!r} needs a type hint (the schema shown to "
                                "the model is derived from it)")
            spec: dict[str, Any] = {"description": arg_docs.get(p.name, ""), "type": _type_name(hints[p.name])}
            if p.default is inspect.Parameter.empty:
                required.append(p.name)
            else:
                spec["default"] = p.default
            params[p.name] = spec
        return cls(name=name or fn.__name__, description=doc.split("\n\n")[0].replace("\n", " ").strip(),
                   parameters=params, fn=fn, hints={k: v for k, v in hints.items() if k != "return"},
                   required=required)

    def __call__(self, **kwargs: Any) -> Any:
        """Call with keyword arguments checked against the schema (``ValueError`` names the problem)."""
        unknown = sorted(set(kwargs) - set(self.parameters))
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown} for tool {self.name} (takes {sorted(self.parameters)})")
        missing = [r for r in self.required if r not in kwargs]
        if missing:
            raise ValueError(f"missing required parameter(s) {missing} for tool {self.name}")
        for k, v in kwargs.items():
            if not _check_value(v, self.hints.get(k, Any)):
                raise ValueError(f"parameter {k} of tool {self.name} must be {self.parameters[k]['type']}, "
                                 f"got {type(v).__name__}")
        return self.fn(**kwargs)

    def describe(self, index: int) -> str:
        """The rlla tool-list entry: ``N. Name: …\\nDescription: …\\nParameters: {json}``."""
        return (f"{index}. Name: {self.name}\nDescription: {self.description}\n"
                f"Parameters: {json.dumps(self.parameters, ensure_ascii=False, default=str)}")

    def json_schema(self) -> dict[str, Any]:
        """The OpenAI function-calling schema of this tool."""
        props = {k: {"type": _JSON_TYPES.get(v["type"], "string"), "description": v["description"]}
                 for k, v in self.parameters.items()}
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": {"type": "object", "properties": props,
                                                                "required": list(self.required)}}}


def import_function(path: str) -> Callable[..., Any]:
    """A tool function named by its dotted import path (how YAML names a Python tool)."""
    return import_callable(path, "tool function", "lit_agents.tools.calculator.calculator")
