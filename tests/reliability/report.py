"""The reliability report: tests say what they tried and what happened; ``--reliability-report PATH`` writes
them as the Markdown table of ``docs/reliability.md`` (``make reliability-report``).

A test takes the ``reliability_log`` fixture and calls it once per scenario::

    reliability_log("collection", "TinyLLM rationales: HTTP 500 x3, 429 Retry-After, dropped connection",
                    "finished calls kept (3/5), error names 1 failed call and how to resume", tried=9)

Counts from property-based tests accumulate with ``reliability_log.count(area, case, outcome)`` (one call per
generated example; rows with the same area/case/outcome are summed). Entries travel as ``user_properties``,
so the report is complete under pytest-xdist too; each row also shows whether its test passed.
"""

from __future__ import annotations

import datetime
import json
import platform
from collections import Counter
from pathlib import Path

import pytest

_KEY = "reliability"
AREAS = ["resume", "checkpoint", "collection", "bad input", "bad config", "numerics", "security"]


class ReliabilityLog:
    def __init__(self, node: pytest.Item):
        self._node = node
        self._counts: Counter[tuple[str, str, str]] = Counter()

    def __call__(self, area: str, case: str, outcome: str, tried: int = 1) -> None:
        if area not in AREAS:
            raise ValueError(f"reliability area {area!r} not in {AREAS}")
        self._counts[(area, case, outcome)] += tried

    def count(self, area: str, case: str, outcome: str) -> None:
        self(area, case, outcome, tried=1)

    def flush(self) -> None:
        for (area, case, outcome), n in self._counts.items():
            self._node.user_properties.append((_KEY, json.dumps({"area": area, "case": case, "outcome": outcome,
                                                                 "tried": n})))
        self._counts.clear()


@pytest.fixture()
def reliability_log(request):
    log = ReliabilityLog(request.node)
    yield log
    log.flush()


def pytest_addoption(parser):
    parser.addoption("--reliability-report", default=None, metavar="PATH",
                     help="write the reliability report (Markdown) of the tests that ran to PATH")


class _Collector:
    def __init__(self, path: Path):
        self.path = path
        self.rows: dict[str, list[dict]] = {}
        self.outcome: dict[str, str] = {}

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.outcome[report.nodeid] = report.outcome
        elif report.when == "teardown" and report.outcome != "passed":
            self.outcome[report.nodeid] = "error"
        entries = [json.loads(v) for k, v in report.user_properties if k == _KEY]
        if entries and report.when == "teardown":
            self.rows[report.nodeid] = entries

    def pytest_sessionfinish(self, session):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(render(self.rows, self.outcome))


def render(rows: dict[str, list[dict]], outcome: dict[str, str]) -> str:
    merged: dict[tuple[str, str, str], dict] = {}
    for nodeid, entries in rows.items():
        for e in entries:
            key = (e["area"], e["case"], e["outcome"])
            row = merged.setdefault(key, {**e, "tried": 0, "tests": set(), "status": set()})
            row["tried"] += e["tried"]
            row["tests"].add(nodeid.split("::")[0])
            row["status"].add(outcome.get(nodeid, "not run"))
    n_pass = sum(1 for o in outcome.values() if o == "passed")
    lines = ["# Reliability report", "",
             "What the reliability tests tried against lit-agents (faults, bad inputs, interrupted runs) and what "
             "happened. Regenerate with `make reliability-report`; every row is an automated test in the normal "
             "suite.", "",
             f"Generated {datetime.date.today().isoformat()} on {platform.system()} {platform.machine()}, Python "
             f"{platform.python_version()}: {n_pass} of {len(outcome)} tests passed.", ""]
    for area in AREAS:
        area_rows = sorted((r for k, r in merged.items() if k[0] == area), key=lambda r: r["case"])
        if not area_rows:
            continue
        lines += [f"## {area.capitalize()}", "", "| what was tried | times | what happened | test | result |",
                  "|---|---:|---|---|---|"]
        for r in area_rows:
            status = "pass" if r["status"] == {"passed"} else "/".join(sorted(r["status"])).upper()
            tests = ", ".join(f"`{t}`" for t in sorted(r["tests"]))
            lines.append(f"| {_cell(r['case'])} | {r['tried']} | {_cell(r['outcome'])} | {tests} | {status} |")
        lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def pytest_configure(config):
    path = config.getoption("--reliability-report", default=None)
    # under xdist only the controller (no workerinput) collects and writes
    if path and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Collector(Path(path)), "reliability-report-collector")
