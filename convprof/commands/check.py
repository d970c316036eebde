"""`convprof check`: budgets and growth allowances of one or more specs, for CI gates."""

from __future__ import annotations

import glob
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from convprof.ci.budgets import (
    BUDGET_METRICS,
    LATENCY_PREFIX,
    TRAINING_LATENCY_PREFIX,
    UNSTABLE_VERDICT,
)
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
from convprof.units import clip, plural

if TYPE_CHECKING:
    from convprof.ci.budgets import Allowance, Check
    from convprof.report import Report
    from convprof.spec import Budgets, ModelSpec

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


def _overrides(
    limits: dict[str, str | None], latency: tuple[str, ...], training_latency: tuple[str, ...]
) -> Budgets:
    from convprof.ci.budgets import parse_latency_option, parse_limit
    from convprof.spec import Budgets

    values: dict[str, Any] = {}
    for metric, text in limits.items():
        if text is not None:
            try:
                values[metric] = parse_limit(metric, text)
            except ValueError as exc:
                option = "--max-" + metric.replace("_", "-")
                raise UsageError(f"{option} {clip(text)}: {exc}") from None
    devices = dict(parse_latency_option(item) for item in latency)
    steps = dict(parse_latency_option(item, "--max-training-latency") for item in training_latency)
    return Budgets(
        **values,
        latency_ms=tuple(sorted(devices.items())),
        training_latency_ms=tuple(sorted(steps.items())),
    )


def _same_protocol(
    name: str, path: Path, baseline: Report, report: Report, allowances: tuple[Allowance, ...]
) -> None:
    """Refuse a growth allowance on a median the baseline measured with other settings (threads,
    dtype, batch size, memory format, compilation): its growth would measure the settings, not the
    model. Another processor is warned of: a CI runner may change it under the same settings."""
    from convprof.ci.budgets import is_latency
    from convprof.ci.protocol import MACHINE_SETTINGS, PROTOCOL_OPTIONS, protocol_differences

    for allowance in allowances:
        if not is_latency(allowance.metric):
            continue
        device = allowance.metric.partition(".")[2]
        differences = protocol_differences(baseline, report, device)
        settings = [d for d in differences if not d.startswith(MACHINE_SETTINGS)]
        if settings:
            raise UsageError(
                f"{name}: {allowance.metric} cannot grow against {path}: it was measured with other "
                f"settings ({', '.join(settings)}); make the baseline as this run measures, with "
                "`convprof check --write-reports DIR` (or compare's defaults of "
                f"{PROTOCOL_OPTIONS})"
            )
        if differences:
            click.echo(
                f"convprof: warning: {name}: {allowance.metric} is compared with {path}, measured on "
                f"another machine ({', '.join(differences)}): its growth is the machine's as much as "
                "the model's",
                err=True,
            )


def _baselines(paths: tuple[Path, ...]) -> dict[str, tuple[Path, Report]]:
    """Return saved reports by spec name, from files and from directories of *.json files."""
    from convprof.report.reportfile import load_report

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise UsageError(f"--baseline {path}: the directory holds no .json reports")
            files += found
        else:
            files.append(path)
    baselines: dict[str, tuple[Path, Report]] = {}
    for file in files:
        data = load_report(file)
        name = data.spec.name
        if name in baselines:
            raise UsageError(
                f"--baseline: {baselines[name][0]} and {file} are both for spec {name!r}; keep one"
            )
        baselines[name] = (file, data)
    return baselines


def _asked_by(
    spec: ModelSpec, overrides: Budgets, growth: tuple[Allowance, ...]
) -> tuple[tuple[str, str], ...]:
    """Say what asked for each device a check measures on, for a message that names it (a spec's
    budget, an option), never an option the user did not give."""
    asked: dict[str, str] = {}
    for prefix, written, given, option in (
        (LATENCY_PREFIX, spec.budgets.latency_ms, overrides.latency_ms, "--max-latency"),
        (
            TRAINING_LATENCY_PREFIX,
            spec.budgets.training_latency_ms,
            overrides.training_latency_ms,
            "--max-training-latency",
        ),
    ):
        for allowance in growth:
            if allowance.metric.startswith(prefix):
                asked[allowance.metric[len(prefix) :]] = f"--max-growth {allowance.metric}"
        for device, _ in written:
            asked[device] = f"{spec.path}: budgets {prefix}{device}"
        for device, limit in given:
            asked[device] = f"{option} {device}={limit:g}"
    return tuple(sorted(asked.items()))


def _measure(
    spec: ModelSpec,
    report: Report,
    devices: tuple[str, ...],
    training: tuple[str, ...],
    preset: str,
    asked_by: tuple[tuple[str, str], ...],
) -> Report:
    from convprof.torchdep import require_torch

    require_torch("a latency budget, --latency or --training", "size budgets alone need no torch")
    try:
        from convprof.measure import MeasureOptions, measure_report
    except ImportError as exc:  # pragma: no cover - only when the measurement code is missing
        raise UsageError(f"latency cannot be measured here ({exc}); check sizes only") from exc
    options = MeasureOptions(devices=devices, training_devices=training, preset=preset, asked_by=asked_by)
    return measure_report(spec, report, options)


def _timed_devices(
    limits: tuple[tuple[str, float], ...], allowances: tuple[Allowance, ...], prefix: str, asked: bool
) -> tuple[str, ...]:
    """Return the devices a kind of measured time is needed on: its budgets', its growth allowances',
    and the CPU when asked for without either."""
    devices = {device for device, _ in limits}
    devices |= {a.metric[len(prefix) :] for a in allowances if a.metric.startswith(prefix)}
    if asked and not devices:
        devices.add("cpu")
    return tuple(sorted(devices))


def _limit_option(metric: str, example: str) -> Callable[[F], F]:
    return click.option(
        "--max-" + metric.replace("_", "-"),
        metric,
        metavar="N",
        help=f"Limit on the conv variant's {metric} (e.g. {example}); overrides the spec's budget.",
    )


@click.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@_limit_option("params", "100k")
@_limit_option("trainable_params", "10k")
@_limit_option("macs", "1G")
@_limit_option("flops", "2G")
@_limit_option("training_flops", "6G")
@_limit_option("param_bytes", "4MiB")
@_limit_option("activation_bytes", "64MB")
@_limit_option("training_bytes", "1GiB")
@click.option(
    "--max-latency",
    "max_latency",
    multiple=True,
    metavar="DEVICE=MS",
    help="Median latency limit per device, e.g. cpu=5 or cuda=0.5 (repeatable); measures latency.",
)
@click.option(
    "--max-training-latency",
    "max_training_latency",
    multiple=True,
    metavar="DEVICE=MS",
    help="Median training-step limit per device, e.g. cpu=50 (repeatable); times a training step.",
)
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
    max_latency: tuple[str, ...],
    max_training_latency: tuple[str, ...],
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
    **limits: str | None,
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
    from convprof.ci.budgets import BudgetExceeded, check_growth, check_limits, merge_budgets, parse_growth
    from convprof.commands.sources import ModelOptions, check_model_options, load_spec
    from convprof.report.analyze import analyze

    assert set(limits) == set(BUDGET_METRICS), limits
    overrides = _overrides(limits, max_latency, max_training_latency)
    allowances = parse_growth(max_growth) if max_growth else ()
    if allowances and not baseline:
        raise UsageError("--max-growth needs --baseline REPORT.json to compare against")
    if baseline and not allowances:
        raise UsageError("--baseline needs --max-growth, e.g. --max-growth params=0%,macs=5%")
    if write_reports is not None and not write_reports.is_dir():
        raise UsageError(f"--write-reports {write_reports}: not a directory; create it first")
    baselines = _baselines(baseline)
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

    checks: list[Check] = []
    unchecked: list[str] = []
    reports: list[tuple[str, Report]] = []
    for model in models:
        budgets = merge_budgets(model.budgets, overrides)
        report = analyze(model, optimizer)
        growth = allowances if model.name in baselines else ()
        devices = _timed_devices(budgets.latency_ms, growth, LATENCY_PREFIX, latency)
        steps = _timed_devices(budgets.training_latency_ms, growth, TRAINING_LATENCY_PREFIX, training)
        if devices or steps:
            report = _measure(model, report, devices, steps, preset, _asked_by(model, overrides, growth))
        reports.append((model.name, report))
        found: list[Check] = [*check_limits(model.name, budgets, report, strict=strict_latency)]
        if model.name in baselines:
            baseline_path, baseline_report = baselines[model.name]
            _same_protocol(model.name, baseline_path, baseline_report, report, growth)
            found += check_growth(model.name, allowances, baseline_report, report, strict=strict_latency)
        elif baselines:
            say(f"convprof: {model.name}: no baseline report for this spec; growth not checked")
        if not found:
            unchecked.append(model.name)
        checks += found
    if unchecked and require_budgets:
        raise UsageError(
            f"--require-budgets: {', '.join(unchecked)} "
            f"{'sets' if len(unchecked) == 1 else 'set'} no budgets; "
            "add `budgets:` to the spec or --max-* options"
        )
    for name in unchecked:
        say(
            f"convprof: warning: {name}: no budgets set, NOTHING CHECKED; add `budgets:` or --max-* options "
            "(--require-budgets makes this exit 2)"
        )

    if write_reports is not None:
        from convprof.output import write_atomic
        from convprof.render.machine import to_json

        for name, report in reports:
            # The file name comes from the spec: never follow a link there out of the directory.
            write_atomic(targets[name], to_json(report), follow_links=False)
        say(f"convprof: wrote {len(reports)} report(s) to {write_reports}")

    from convprof.render.checks import checks_markdown, unverified
    from convprof.render.formats import CheckResults, check_renderers

    deliver_result(CheckResults(checks, unchecked), check_renderers(), fmt, output)
    step_summary(checks_markdown(checks, unchecked))
    for item in checks:
        if item.unstable and item.actual is not None and item.passed:
            say(f"convprof: warning: {item.spec}: {item.metric} {UNSTABLE_VERDICT}")
    open_checks = unverified(checks)
    for item in open_checks:
        say(f"convprof: warning: {item.message()}")
    failures = [c for c in checks if not c.passed]
    if failures:
        detail = "; ".join(c.message() for c in failures)
        raise BudgetExceeded(f"{plural(len(failures), 'check')} failed: {detail}")
    if open_checks and require_budgets:
        which = ", ".join(f"{c.spec}: {c.metric}" for c in open_checks)
        raise UsageError(
            f"--require-budgets: {plural(len(open_checks), 'check')} NOT VERIFIED ({which}): "
            "a lower bound within its limit proves nothing; budget what is exact for such a spec "
            "(parameters, memory)"
        )
