"""Budget and growth checks as a rich table, Markdown and JSON: one row per spec and metric."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table

from convprof.ci.budgets import Check, GrowthCheck
from convprof.ci.gate import CheckResults, unverified
from convprof.render.console import fitted, print_prose
from convprof.render.jsonfmt import dumps
from convprof.report.stats import IQR_WARN_THRESHOLD, ROUND_SPREAD_THRESHOLD, UNSTABLE_MARK
from convprof.safetext import markdown_text, printable
from convprof.units import plural

__all__ = [
    "CHECK_COLUMNS",
    "check_rows",
    "checks_json",
    "checks_markdown",
    "render_checks",
    "unstable_sentence",
    "unverified_sentence",
]

#: Column headers of every check output.
CHECK_COLUMNS = ("Spec", "Metric", "Check", "Limit", "Actual", "Headroom", "Result")


def _headroom(check: Check) -> str:
    value = check.headroom
    if value is None:
        return "-"
    # The true value is at least a lower bound, so the headroom is at most the one shown.
    return f"{'<=' if check.lower_bound else ''}{float(value):+.1f}%"


def _result(check: Check) -> str:
    if check.actual is None or (isinstance(check, GrowthCheck) and check.baseline is None):
        return "skip"
    if check.passed and not check.verified:
        return "UNVERIFIED"
    verdict = "pass" if check.passed else "FAIL"
    return f"{verdict} (unstable)" if check.unstable else verdict


def unverified_sentence(checks: Sequence[Check]) -> str | None:
    """Say how many checks rest on lower bounds and cannot be verified, or None when none does."""
    count = len(unverified(checks))
    if not count:
        return None
    return (
        f"{plural(count, 'check')} NOT VERIFIED: a total over opaque ops leaves their "
        "unknown counts out and is only a lower bound, within what is allowed as far as it is counted; "
        "such a check fails only when the lower bound exceeds it. --require-budgets makes this exit 2."
    )


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
            printable(c.spec),
            printable(c.metric),
            "growth" if isinstance(c, GrowthCheck) else "budget",
            c.limit_text(),
            c.actual_text(),
            _headroom(c),
            _result(c),
        ]
        for c in checks
    ]


def _unchecked(unchecked: Sequence[str]) -> str:
    """Say loudly which specs the gate checked nothing for: a gate that checks nothing passes anything."""
    if not unchecked:
        return ""
    names = ", ".join(printable(name) for name in unchecked)
    return (
        f"NOTHING CHECKED for {names}: no budgets, no --max-* option, no growth allowance; "
        "add `budgets:` to the spec (--require-budgets makes this exit 2)."
    )


def _summary(checks: Sequence[Check]) -> str:
    if not checks:
        return "No checks ran."
    failed = sum(not c.passed for c in checks)
    open_ = len(unverified(checks))
    specs = len({c.spec for c in checks})
    if failed:
        also = f", {open_} not verified" if open_ else ""
        return f"{failed} of {plural(len(checks), 'check')} failed{also} across {plural(specs, 'spec')}."
    if open_:
        passed = len(checks) - open_
        total = plural(len(checks), "check")
        return f"{passed} of {total} passed, {open_} not verified, across {plural(specs, 'spec')}."
    every = "All " if len(checks) > 1 else ""
    return f"{every}{plural(len(checks), 'check')} passed across {plural(specs, 'spec')}."


def render_checks(checks: Sequence[Check], unchecked: Sequence[str], console: Console) -> None:
    """Print the checks as a table, a one-line summary and the specs nothing was checked for."""
    if checks:
        table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
        for index, header in enumerate(CHECK_COLUMNS):
            table.add_column(header, justify="right" if index in (3, 4, 5) else "left", no_wrap=True)
        for row in check_rows(checks):
            style = (
                "bold red"
                if row[-1].startswith("FAIL")
                else "bold yellow"
                if row[-1] == "UNVERIFIED"
                else None
            )
            table.add_row(*row, style=style)
        console.print(fitted(table, console, keys=3))
    print_prose(console, _summary(checks), style="bold")
    sentence = unstable_sentence(checks)
    if sentence:
        print_prose(console, sentence)
    sentence = unverified_sentence(checks)
    if sentence:
        print_prose(console, sentence, style="bold yellow")
    if unchecked:
        print_prose(console, _unchecked(unchecked), style="bold yellow")


def _outcome(checks: Sequence[Check], unchecked: Sequence[str]) -> str:
    if any(not c.passed for c in checks):
        return "failed"
    if not checks:
        return "nothing checked"
    if unverified(checks):
        return "passed as far as counted, some checks NOT VERIFIED"
    return "passed, some specs unchecked" if unchecked else "passed"


def checks_markdown(checks: Sequence[Check], unchecked: Sequence[str] = ()) -> str:
    """Return the checks as a GitHub-flavoured Markdown table under a heading."""
    lines = [f"### convprof check: {_outcome(checks, unchecked)}", ""]
    if checks:
        lines.append("| " + " | ".join(CHECK_COLUMNS) + " |")
        lines.append("| " + " | ".join("---:" if i in (3, 4, 5) else "---" for i in range(7)) + " |")
        for row in check_rows(checks):
            cells = [markdown_text(cell) for cell in row]
            if row[-1].startswith("FAIL") or row[-1] == "UNVERIFIED":
                cells[-1] = "**" + cells[-1] + "**"
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += [_summary(checks), ""]
    sentence = unstable_sentence(checks)
    if sentence:
        lines += [sentence, ""]
    sentence = unverified_sentence(checks)
    if sentence:
        lines += [f"**{sentence}**", ""]
    if unchecked:
        lines += [f"**{markdown_text(_unchecked(unchecked))}**", ""]
    return "\n".join(lines)


def checks_json(checks: Sequence[Check], unchecked: Sequence[str] = ()) -> str:
    """Return the checks as JSON: exact integers for sizes, percentages as numbers."""
    return dumps(CheckResults(checks, unchecked).to_dict())
