"""The argument parser behind ``lit-agents``: short error messages with "did you mean", no abbreviations, a
help text that lists the methods and data modules, and backbone overrides that switch the model source.

Kept apart from :mod:`lit_agents.cli` (which wires callbacks and run directories) so that each has one job.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import inspect
import pkgutil
import re
import sys
from typing import NoReturn

from jsonargparse import DefaultHelpFormatter
from lightning.pytorch.cli import LightningArgumentParser

# jsonargparse's error messages for a nested value carry the reasons every alternative type was refused; these
# lines say nothing a user can act on.
_NOISE = re.compile(r"^\s*(- )?(Expected a <class 'NoneType'>|Given value type:|Given value:|"
                    r"Not a valid subclass of|Subclass types expect one of:|"
                    r"Does not validate against any of the (types in|Union subtypes)|Subtypes: \[|Errors:\s*$)")
_UNKNOWN_OPTION = re.compile(r"""(?:Option|Key) ['"]([\w.]+)['"] is not (?:accepted|expected)""")
_UNRECOGNIZED = re.compile(r"unrecognized arguments: (--[\w.]+)", re.IGNORECASE)
_GROUP_OPTION = re.compile(r"Group '([\w.]+)' does not accept option '([\w.]+)'")
_CLASS_PATH = re.compile(r"Problem with given class_path '([\w.]+)'")


def _init_params(class_path: str) -> list[str]:
    """Constructor argument names of ``class_path`` and its bases (empty when it does not import)."""
    module, _, name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except Exception:  # noqa: BLE001 - only used for suggestions
        return []
    names: list[str] = []
    for klass in inspect.getmro(cls):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in names:
                names.append(p.name)
    return names


def suggest(message: str, options: list[str]) -> str | None:
    """A "did you mean" line for the unknown key in a jsonargparse ``message``, or None.

    ``options`` are the parser's option strings (``--trainer.max_steps``); a key inside a class's
    ``init_args`` is matched against that class's constructor arguments.
    """
    m = _UNRECOGNIZED.search(message)
    if m:
        close = difflib.get_close_matches(m.group(1), options, n=3, cutoff=0.75)
        return f"did you mean {' or '.join(close)}?" if close else None
    m = _GROUP_OPTION.search(message)
    if m:
        close = difflib.get_close_matches(f"--{m.group(1)}.{m.group(2)}", options, n=3, cutoff=0.75)
        return f"did you mean {' or '.join(o[2:] for o in close)}?" if close else None
    m = _UNKNOWN_OPTION.search(message)
    if not m:
        return None
    key = m.group(1)
    cls = _CLASS_PATH.search(message)
    if cls:
        close = difflib.get_close_matches(key.rsplit(".", 1)[-1], _init_params(cls.group(1)), n=3, cutoff=0.6)
        return f"did you mean {' or '.join(close)}? ({cls.group(1)} takes these)" if close else None
    close = difflib.get_close_matches("--" + key, options, n=3, cutoff=0.75)
    return f"did you mean {' or '.join(close)}?" if close else None


def condense(message: str) -> str:
    """The lines of a jsonargparse error a user can act on, without the per-type rejection noise."""
    lines = [ln for ln in message.splitlines() if ln.strip() and not _NOISE.match(ln)]
    return "\n".join(lines[:12])


def _all_options(parser: argparse.ArgumentParser) -> list[str]:
    """Every ``--option`` of ``parser`` and of its subcommand parsers."""
    out: list[str] = []
    for action in parser._actions:
        out += [o for o in action.option_strings if o.startswith("--")]
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out += _all_options(sub)
    return out


class _HelpFormatter(DefaultHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """jsonargparse's help formatter, keeping the description's line breaks (the lists of classes)."""


class LitAgentsArgumentParser(LightningArgumentParser):
    """LightningArgumentParser with ``allow_abbrev=False`` (``--trainer.max_step`` is an error, not
    ``max_steps``) and a few-line error: the problem, a "did you mean" when a key is close to a known one, and
    where to find the options, instead of the full usage."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not self.exit_on_error:
            super().error(message, ex)
        parser = getattr(ex, "subcommand_parser", None) or self
        options = list(dict.fromkeys(_all_options(parser)))
        prog = parser.prog.replace(" [options]", "")
        text = condense(message)
        hint = suggest(message, options)
        sys.stderr.write(f"{prog}: error: {text}\n" + (f"  {hint}\n" if hint else "") +
                         f"  (all options: {prog} --help; a class's arguments: --model.help CLASS_PATH)\n")
        sys.exit(2)


def _registered_classes() -> tuple[list[str], list[str]]:
    """Import every module of ``lit_agents.methods`` and ``data_modules`` so that their LightningModules and
    LightningDataModules are known subclasses (listed by ``--help``); returns their class paths."""
    import lightning as L

    import data_modules
    import lit_agents.methods

    found: dict[type, list[str]] = {L.LightningModule: [], L.LightningDataModule: []}
    for pkg in (lit_agents.methods, data_modules):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            try:
                mod = importlib.import_module(info.name)
            except Exception:  # noqa: BLE001 - an optional dependency missing must not break --help
                continue
            for obj in vars(mod).values():
                if inspect.isclass(obj) and obj.__module__ == mod.__name__:
                    for base, names in found.items():
                        if issubclass(obj, base) and not info.name.endswith(".base"):
                            names.append(f"{obj.__module__}.{obj.__qualname__}")
    return sorted(found[L.LightningModule]), sorted(found[L.LightningDataModule])


def wants_help(args: list[str]) -> bool:
    """Whether ``args`` ask for a help text (``--help``, ``--model.help CLASS``)."""
    return any(a in ("-h", "--help") or a.split("=", 1)[0].endswith(".help") for a in args)


def description(args: list[str]) -> str:
    """The ``--help`` text: what the tool is, and (only when help is asked for, since it imports every
    method) the class paths ``model.class_path`` and ``data.class_path`` accept."""
    text = ("lit-agents: reasoning, alignment and planning methods for LLM agents as LightningModules and "
            "LightningDataModules, configured in YAML (configs/*.yaml).\n"
            "  lit-agents fit --config configs/sft.yaml [--model.init_args.KEY VALUE ...]")
    if wants_help(args):
        methods, datas = _registered_classes()
        text += ("\n\nMethods (model.class_path):\n  " + "\n  ".join(methods) +
                 "\nData modules (data.class_path):\n  " + "\n  ".join(datas) +
                 "\nArguments of one class: lit-agents fit --model.help CLASS_PATH (or --data.help CLASS_PATH)")
    return text


_BACKBONE_KEY = re.compile(r"^--(?P<prefix>[\w.]+\.backbone)\.(?P<field>name_or_path|tiny)(?P<rest>[.=].*)?$")


def switch_backbone_source(args: list[str]) -> list[str]:
    """Let the command line switch a backbone between a hub model and a tiny spec.

    A config sets exactly one of ``backbone.name_or_path`` and ``backbone.tiny``. Setting the other one on the
    command line (``--model.init_args.backbone.name_or_path google/flan-t5-large`` over an embedded tiny
    config) now clears the first, and ``--...backbone.tiny null`` (which jsonargparse refuses for a nested
    dataclass) is accepted: both are rewritten to a dict merge ``--...backbone '{"tiny": null}'``.
    """
    out: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        m = _BACKBONE_KEY.match(a)
        if not m:
            out.append(a)
            i += 1
            continue
        prefix, fld, rest = m.group("prefix"), m.group("field"), m.group("rest") or ""
        if "=" in a:
            value, consumed = a.split("=", 1)[1], 1
        else:
            value, consumed = (args[i + 1], 2) if i + 1 < len(args) else (None, 1)
        other = "tiny" if fld == "name_or_path" else "name_or_path"
        whole_field = not rest.startswith(".")  # `tiny`, not `tiny.arch`
        if whole_field and value is not None and value.strip().lower() in ("null", "none", "~"):
            out += [f"--{prefix}", f'{{"{fld}": null}}']  # clearing this one: nothing to switch
        else:
            out += args[i:i + consumed] + [f"--{prefix}", f'{{"{other}": null}}']
        i += consumed
    return out
