"""`convprof check`: budgets and growth allowances of one or more specs, for CI gates."""

from __future__ import annotations

import glob
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from convprof.commands.base import (
    anchored,
    deliver_result,
    format_option,
    model_options,
    optimizer_option,
    output_option,
    preset_option,
    reports_errors,
    say,
)
from convprof.errors import UsageError
from convprof.metrics import Metric, budget_metrics, measured_metrics
from convprof.units import clip

__all__ = ["check", "expand_specs", "report_file_name", "step_summary"]

_GLOB_CHARS = frozenset("*?[")
#: Characters a report's file name keeps from its spec's name; any other becomes `_`.
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
#: Characters of a spec's name kept in its report's file name (file names stop at 255 bytes).
MAX_REPORT_NAME = 100

F = TypeVar("F", bound=Callable[..., Any])


def expand_specs(arguments: tuple[str, ...]) -> list[str]:
    """Expand glob patterns (quoted so the shell left them) into sorted paths; keep other arguments."""
    expanded: list[str] = []
    for argument in arguments:
        if Path(argument).exists() or not _GLOB_CHARS & set(argument):
            matches = [argument]
        else:
            matches = sorted(glob.glob(argument, recursive=True))
            if not matches:
                raise UsageError(f"{argument}: no file matches this pattern")
        expanded += [m for m in matches if m not in expanded]
    return expanded


def report_file_name(name: str) -> str:
    """Return the file name `--write-reports` gives a spec's report: `NAME.json`, made safe.

    A spec's contents never choose a path: every character but letters, digits, `.`, `_` and `-`
    becomes `_` (so no `/`, no NUL), leading dots go (no `..`, no hidden file) and the name is cut
    to MAX_REPORT_NAME characters."""
    safe = _SAFE_NAME.sub("_", name).lstrip(".")[:MAX_REPORT_NAME]
    return f"{safe or '_'}.json"


def _report_files(directory: Path, names: list[str]) -> dict[str, Path]:
    """Return each spec's report path in `directory`; UsageError when two specs would share one."""
    paths: dict[str, Path] = {}
    owners: dict[str, str] = {}
    for name in names:
        file = report_file_name(name)
        if file in owners:
            raise UsageError(
                f"--write-reports: specs {clip(owners[file])} and {clip(name)} would both be written to "
                f"{file}; give one of them another `name:`"
            )
        owners[file] = name
        paths[name] = directory / file
    return paths


def step_summary(markdown: str) -> None:
    """Append Markdown to the GitHub Actions job summary when GITHUB_STEP_SUMMARY names one."""
    import os

    from convprof.output import append_text

    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    append_text(Path(target), markdown + "\n", f"GITHUB_STEP_SUMMARY {target}")
    say(f"convprof: appended the Markdown summary to {target} (GITHUB_STEP_SUMMARY)")


#: The help of each measured time's --max-* option: what its DEVICE=MS items limit, and that it measures.
_TIME_HELP = {
    "latency_ms": "Median latency limit per device, e.g. cpu=5 or cuda=0.5 (repeatable); measures latency.",
    "training_latency_ms": "Median training-step limit per device, e.g. cpu=50 (repeatable); times a "
    "training step.",
}


def _limit_option(limited: Metric) -> Callable[[F], F]:
    """The --max-* option of one metric of the registry: one N for a size, DEVICE=MS items for a time."""
    if limited.measured:
        return click.option(
            limited.option, limited.key, multiple=True, metavar="DEVICE=MS", help=_TIME_HELP[limited.key]
        )
    return click.option(
        limited.option,
        limited.key,
        metavar="N",
        help=f"Limit on the conv variant's {limited.key} (e.g. {limited.example}); overrides the spec's "
        "budget.",
    )


def _limit_options(command: F) -> F:
    """Add a --max-* option for every metric a budget may limit, in the registry's order."""
    for limited in reversed((*budget_metrics(), *measured_metrics())):
        command = _limit_option(limited)(command)
    return command


@click.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@_limit_options
@click.option(
    "--latency", is_flag=True, help="Measure latency even without a latency budget (imports torch)."
)
@click.option(
    "--training",
    is_flag=True,
    help="Time a training step even without a training-latency budget (imports torch); "
    "--write-reports then keeps it.",
)
@preset_option("default")
@click.option(
    "--baseline",
    "baseline",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A saved JSON report, or a directory of them, matched to specs by name (repeatable).",
)
@click.option(
    "--max-growth",
    metavar="METRIC=PCT,...",
    help="Largest growth against the baseline, e.g. params=0%,macs=5%,latency_ms.cpu=15% "
    "(training_latency_ms.cpu too).",
)
@click.option(
    "--require-budgets",
    is_flag=True,
    help="Exit 2 when a spec has nothing to check (no budgets, no --max-* option, no growth allowance), "
    "or a check rests on a lower bound it cannot verify (MACs of a spec with opaque ops).",
)
@optimizer_option
@format_option(csv=False, description="Output format of the check results.")
@output_option
@click.option(
    "--write-reports",
    type=click.Path(path_type=Path),
    callback=anchored,
    metavar="DIR",
    help="Also write each spec's JSON report to DIR/NAME.json (a baseline for later runs); NAME "
    "keeps only the letters, digits, . _ and - of the spec's name.",
)
@click.option(
    "--strict-latency",
    is_flag=True,
    help="Fail a latency or training-latency budget or allowance whose median is unstable (~), even "
    "when it is within.",
)
@model_options
@reports_errors
def check(
    specs: tuple[str, ...],
    latency: bool,
    training: bool,
    strict_latency: bool,
    preset: str,
    baseline: tuple[Path, ...],
    max_growth: str | None,
    require_budgets: bool,
    optimizer: str,
    fmt: str,
    output: Path | None,
    write_reports: Path | None,
    model_input: tuple[str, ...],
    model_kwargs: str | None,
    allow_unknown: bool,
    **limits: Any,
) -> None:
    """Check the budgets of each SPEC (a file, a quoted glob such as 'specs/*.yaml', an example, - for
    stdin, or a PyTorch model package.module:callable with --input).

    Budgets come from each spec's `budgets:` mapping; --max-* options override them. Exits 0 when every
    check passes, 1 when any budget or growth allowance is exceeded, 2 on a usage or spec error. A spec
    with nothing to check is reported loudly; --require-budgets makes it exit 2.
    Latency is measured (importing torch) only when a latency budget, a latency growth allowance or
    --latency asks for it; a training step (training_latency_ms) likewise, or with --training. A
    latency verdict that rests on an unstable median (~) is flagged with a warning; --strict-latency
    makes it a failure.
    A budget on MACs or FLOPs of a spec with opaque ops (their counts unknown) is checked against a
    lower bound: it fails when the lower bound exceeds it and otherwise reads UNVERIFIED, with a
    warning; --require-budgets makes that exit 2.
    """
    from convprof.ci.budgets import parse_growth
    from convprof.ci.gate import GateOptions, load_baselines, run_gate
    from convprof.commands.sources import ModelOptions, check_model_options, load_spec
    from convprof.spec.budgets import option_budgets

    assert set(limits) == {m.key for m in (*budget_metrics(), *measured_metrics())}, limits
    overrides = option_budgets(
        {m.key: limits[m.key] for m in budget_metrics()}, {m.key: limits[m.key] for m in measured_metrics()}
    )
    allowances = parse_growth(max_growth) if max_growth else ()
    if allowances and not baseline:
        raise UsageError("--max-growth needs --baseline REPORT.json to compare against")
    if baseline and not allowances:
        raise UsageError("--baseline needs --max-growth, e.g. --max-growth params=0%,macs=5%")
    if write_reports is not None and not write_reports.is_dir():
        raise UsageError(f"--write-reports {write_reports}: not a directory; create it first")
    baselines = load_baselines(baseline)
    arguments = expand_specs(specs)
    options = ModelOptions(model_input, model_kwargs, allow_unknown)
    check_model_options(arguments, options)
    models = [load_spec(argument, model=options) for argument in arguments]  # every error before output
    names = [m.name for m in models]
    for name in names:
        if names.count(name) > 1:
            raise UsageError(f"two specs are named {clip(name)}; give each a unique `name:`")
    targets = _report_files(write_reports, names) if write_reports is not None else {}
    unmatched = sorted(set(baselines) - set(names))
    if unmatched and len(models) == 1 and len(baselines) == 1:
        raise UsageError(
            f"--baseline {next(iter(baselines.values()))[0]} is for spec {unmatched[0]!r}, not {names[0]!r}"
        )

    asked = {"latency_ms": latency, "training_latency_ms": training}  # --latency, --training
    measure = tuple(key for key, flag in asked.items() if flag)
    gate = GateOptions(overrides, allowances, baselines, measure, strict_latency, preset, optimizer)
    results = run_gate(models, gate, say)
    results.refuse_unchecked(require_budgets, say)

    if write_reports is not None:
        from convprof.output import write_atomic
        from convprof.render.machine import to_json

        for name, report in results.reports:
            # The file name comes from the spec: never follow a link there out of the directory.
            write_atomic(targets[name], to_json(report), follow_links=False)
        say(f"convprof: wrote {len(results.reports)} report(s) to {write_reports}")

    from convprof.render.checks import checks_markdown
    from convprof.render.formats import check_renderers

    deliver_result(results, check_renderers(), fmt, output)
    step_summary(checks_markdown(results.checks, results.unchecked))
    results.verdict(require_budgets, say)
