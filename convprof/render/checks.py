"""Budget and growth checks as a rich table, Markdown and JSON: one row per spec and metric."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from rich import box
from rich.console import Console
from rich.table import Table

from convprof.ci.budgets import LATENCY_PREFIX, Check, GrowthCheck
from convprof.render.console import fitted, print_prose
from convprof.render.jsonfmt import dumps
from convprof.report.stats import IQR_WARN_THRESHOLD, ROUND_SPREAD_THRESHOLD, UNSTABLE_MARK
from convprof.units import plural

__all__ = [
    "CHECK_COLUMNS",
    "CHECK_SCHEMA_VERSION",
    "check_rows",
    "checks_json",
    "checks_markdown",
    "render_checks",
    "unstable_sentence",
]

#: Version of the JSON `check --format json` writes; bumped on any incompatible change.
CHECK_SCHEMA_VERSION = 1

#: Column headers of every check output.
CHECK_COLUMNS = ("Spec", "Metric", "Check", "Limit", "Actual", "Headroom", "Result")


def _headroom(value: Fraction | None) -> str:
    return "-" if value is None else f"{float(value):+.1f}%"


def _result(check: Check) -> str:
    if check.actual is None or (isinstance(check, GrowthCheck) and check.baseline is None):
        return "skip"
    verdict = "pass" if check.passed else "FAIL"
    return f"{verdict} (unstable)" if check.unstable else verdict


def _unstable(checks: Sequence[Check]) -> int:
    return sum(c.unstable and c.actual is not None for c in checks)


def unstable_sentence(checks: Sequence[Check]) -> str | None:
    """Say how many latency verdicts rest on unstable medians, or None when none does."""
    count = _unstable(checks)
    if not count:
        return None
    strict = any(c.strict for c in checks)
    consequence = "--strict-latency fails them" if strict else "add --strict-latency to fail them"
    return (
        f"{UNSTABLE_MARK} {plural(count, 'latency verdict')} rest on an unstable median "
        f"(IQR/median over {IQR_WARN_THRESHOLD:.0%} or rounds differing by over "
        f"{ROUND_SPREAD_THRESHOLD:.0%}); {consequence}, or measure with --preset rigorous."
    )


def check_rows(checks: Sequence[Check]) -> list[list[str]]:
    """Return one row of text per check."""
    return [
        [
            c.spec,
            c.metric,
            "growth" if isinstance(c, GrowthCheck) else "budget",
            c.limit_text(),
            c.actual_text(),
            _headroom(c.headroom),
            _result(c),
        ]
        for c in checks
    ]


def _unchecked(unchecked: Sequence[str]) -> str:
    """Say loudly which specs the gate checked nothing for: a gate that checks nothing passes anything."""
    if not unchecked:
        return ""
    names = ", ".join(unchecked)
    return (
        f"NOTHING CHECKED for {names}: no budgets, no --max-* option, no growth allowance; "
        "add `budgets:` to the spec (--require-budgets makes this exit 2)."
    )


def _summary(checks: Sequence[Check]) -> str:
    if not checks:
        return "No checks ran."
    failed = sum(not c.passed for c in checks)
    specs = len({c.spec for c in checks})
    if failed:
        return f"{failed} of {plural(len(checks), 'check')} failed across {plural(specs, 'spec')}."
    every = "All " if len(checks) > 1 else ""
    return f"{every}{plural(len(checks), 'check')} passed across {plural(specs, 'spec')}."


def render_checks(checks: Sequence[Check], unchecked: Sequence[str], console: Console) -> None:
    """Print the checks as a table, a one-line summary and the specs nothing was checked for."""
    if checks:
        table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
        for index, header in enumerate(CHECK_COLUMNS):
            table.add_column(header, justify="right" if index in (3, 4, 5) else "left", no_wrap=True)
        for row in check_rows(checks):
            style = "bold red" if row[-1].startswith("FAIL") else None
            table.add_row(*row, style=style)
        console.print(fitted(table, console, keys=3))
    print_prose(console, _summary(checks), style="bold")
    sentence = unstable_sentence(checks)
    if sentence:
        print_prose(console, sentence)
    if unchecked:
        print_prose(console, _unchecked(unchecked), style="bold yellow")


def _outcome(checks: Sequence[Check], unchecked: Sequence[str]) -> str:
    if any(not c.passed for c in checks):
        return "failed"
    if not checks:
        return "nothing checked"
    return "passed, some specs unchecked" if unchecked else "passed"


def checks_markdown(checks: Sequence[Check], unchecked: Sequence[str] = ()) -> str:
    """Return the checks as a GitHub-flavoured Markdown table under a heading."""
    lines = [f"### convprof check: {_outcome(checks, unchecked)}", ""]
    if checks:
        lines.append("| " + " | ".join(CHECK_COLUMNS) + " |")
        lines.append("| " + " | ".join("---:" if i in (3, 4, 5) else "---" for i in range(7)) + " |")
        for row in check_rows(checks):
            if row[-1].startswith("FAIL"):
                row[-1] = "**" + row[-1] + "**"
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        lines.append("")
    lines += [_summary(checks), ""]
    sentence = unstable_sentence(checks)
    if sentence:
        lines += [sentence, ""]
    if unchecked:
        lines += [f"**{_unchecked(unchecked)}**", ""]
    return "\n".join(lines)


def _number(value: int | float | Fraction | None) -> int | float | None:
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else float(value)
    return value


def checks_json(checks: Sequence[Check], unchecked: Sequence[str] = ()) -> str:
    """Return the checks as JSON: exact integers for sizes, percentages as numbers."""
    items = []
    for c in checks:
        item: dict[str, object] = {
            "spec": c.spec,
            "metric": c.metric,
            "check": "growth" if isinstance(c, GrowthCheck) else "budget",
            "limit": _number(c.limit),
            "actual": c.actual,
        }
        if isinstance(c, GrowthCheck):
            item["baseline"] = c.baseline
            item["allowance_percent"] = _number(c.allowance)
        item["headroom_percent"] = None if c.headroom is None else round(float(c.headroom), 4)
        if c.metric.startswith(LATENCY_PREFIX):
            item["stable"] = None if c.actual is None else not c.unstable
        item["passed"] = c.passed
        items.append(item)
    return dumps(
        {
            "schema_version": CHECK_SCHEMA_VERSION,
            "kind": "check",
            "passed": all(c.passed for c in checks),
            "unchecked": list(unchecked),
            "checks": items,
        }
    )
