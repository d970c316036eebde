"""The CI gate: each spec's budgets and growth allowances checked, measuring only what a check needs,
and the verdict the `check` command exits with."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convprof.ci.budgets import (
    UNSTABLE_VERDICT,
    Allowance,
    BudgetExceeded,
    Check,
    GrowthCheck,
    check_growth,
    check_limits,
    is_latency,
)
from convprof.errors import UsageError
from convprof.metrics import measured_metrics
from convprof.units import plural

if TYPE_CHECKING:
    from convprof.report import Report
    from convprof.spec import Budgets, ModelSpec

__all__ = [
    "CHECK_SCHEMA_VERSION",
    "CheckResults",
    "GateOptions",
    "load_baselines",
    "run_gate",
    "unverified",
]

#: Version of the JSON `check --format json` writes; bumped on any incompatible change.
CHECK_SCHEMA_VERSION = 1

#: Says a line to the user (on stderr), in the order the gate finds it.
Say = Callable[[str], None]


def unverified(checks: Sequence[Check]) -> list[Check]:
    """Return the checks that rest on a lower bound and so neither fail nor pass (see docs/ci.md)."""
    return [c for c in checks if c.passed and not c.verified]


def _number(value: int | float | Fraction | None) -> int | float | None:
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else float(value)
    return value


def _bounded(check: Check) -> bool:
    """True when either side of the check is a lower bound."""
    return check.lower_bound or (isinstance(check, GrowthCheck) and check.baseline_lower_bound)


@dataclass(frozen=True, slots=True)
class CheckResults:
    """What the gate found: every check made, and the specs nothing was checked for."""

    checks: Sequence[Check]
    """Limit and growth checks, in spec order."""
    unchecked: Sequence[str]
    """Names of the specs that set no budget."""
    reports: Sequence[tuple[str, Report]] = field(default=())
    """Each spec's report by name, measured where a check needed it."""

    @property
    def failures(self) -> list[Check]:
        """The checks that failed."""
        return [c for c in self.checks if not c.passed]

    @property
    def unverified(self) -> list[Check]:
        """The checks that rest on a lower bound within what is allowed: neither failed nor passed."""
        return unverified(self.checks)

    def to_dict(self) -> dict[str, Any]:
        """Return the results as JSON-ready data: exact integers for sizes, percentages as numbers."""
        items = []
        for c in self.checks:
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
            if is_latency(c.metric):
                item["stable"] = None if c.actual is None else not c.unstable
            if _bounded(c):  # present only where a lower bound is involved, as `stable` only for latency
                item["lower_bound"] = c.lower_bound
                if isinstance(c, GrowthCheck):
                    item["baseline_lower_bound"] = c.baseline_lower_bound
                item["verified"] = c.verified
            item["passed"] = c.passed
            items.append(item)
        return {
            "schema_version": CHECK_SCHEMA_VERSION,
            "kind": "check",
            "passed": all(c.passed for c in self.checks),
            "unchecked": list(self.unchecked),
            "checks": items,
        }

    def refuse_unchecked(self, require_budgets: bool, say: Say) -> None:
        """Say loudly which specs nothing was checked for; UsageError with `require_budgets`."""
        unchecked = list(self.unchecked)
        if unchecked and require_budgets:
            raise UsageError(
                f"--require-budgets: {', '.join(unchecked)} "
                f"{'sets' if len(unchecked) == 1 else 'set'} no budgets; "
                "add `budgets:` to the spec or --max-* options"
            )
        for name in unchecked:
            say(
                f"convprof: warning: {name}: no budgets set, NOTHING CHECKED; add `budgets:` or --max-* "
                "options (--require-budgets makes this exit 2)"
            )

    def verdict(self, require_budgets: bool, say: Say) -> None:
        """Warn of unstable and unverified verdicts, then raise BudgetExceeded (exit 1) when a check
        failed, or UsageError (exit 2) under `require_budgets` when a check is not verified."""
        for item in self.checks:
            if item.unstable and item.actual is not None and item.passed:
                say(f"convprof: warning: {item.spec}: {item.metric} {UNSTABLE_VERDICT}")
        open_checks = self.unverified
        for item in open_checks:
            say(f"convprof: warning: {item.message()}")
        failures = self.failures
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


@dataclass(frozen=True, slots=True)
class GateOptions:
    """How the gate checks every spec."""

    overrides: Budgets
    """Limits given on the command line: they replace a spec's own."""
    allowances: tuple[Allowance, ...] = ()
    """Growth allowed against a spec's baseline report."""
    baselines: Mapping[str, tuple[Path, Report]] = field(default_factory=dict)
    """Saved reports (and their files) by spec name."""
    measure: tuple[str, ...] = ()
    """Measured times (`latency_ms`, `training_latency_ms`) to measure on the CPU even without a
    budget or allowance that needs them (--latency, --training)."""
    strict: bool = False
    """Fail a measured time within its limit when its median is unstable (--strict-latency)."""
    preset: str = "default"
    """How long to measure (--preset)."""
    optimizer: str = "adam"
    """Optimizer of the training memory (--optimizer)."""


def load_baselines(paths: Sequence[Path]) -> dict[str, tuple[Path, Report]]:
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


def _same_protocol(
    name: str, path: Path, baseline: Report, report: Report, allowances: tuple[Allowance, ...], say: Say
) -> None:
    """Refuse a growth allowance on a median the baseline measured with other settings (threads,
    dtype, batch size, memory format, compilation): its growth would measure the settings, not the
    model. Another processor is warned of: a CI runner may change it under the same settings."""
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
            say(
                f"convprof: warning: {name}: {allowance.metric} is compared with {path}, measured on "
                f"another machine ({', '.join(differences)}): its growth is the machine's as much as "
                "the model's"
            )


def _asked_by(
    spec: ModelSpec, overrides: Budgets, growth: tuple[Allowance, ...]
) -> tuple[tuple[str, str], ...]:
    """Say what asked for each device a check measures on, for a message that names it (a spec's
    budget, an option), never an option the user did not give."""
    asked: dict[str, str] = {}
    for timed in measured_metrics():
        prefix = timed.key + "."
        for allowance in growth:
            if allowance.metric.startswith(prefix):
                asked[allowance.metric[len(prefix) :]] = f"--max-growth {allowance.metric}"
        for device, _ in spec.budgets.devices(timed.key):
            asked[device] = f"{spec.path}: budgets {prefix}{device}"
        for device, limit in overrides.devices(timed.key):
            asked[device] = f"{timed.option} {device}={limit:g}"
    return tuple(sorted(asked.items()))


def _timed_devices(
    budgets: Budgets, allowances: tuple[Allowance, ...], key: str, asked: bool
) -> tuple[str, ...]:
    """Return the devices a kind of measured time is needed on: its budgets', its growth allowances',
    and the CPU when asked for without either."""
    prefix = key + "."
    devices = {device for device, _ in budgets.devices(key)}
    devices |= {a.metric[len(prefix) :] for a in allowances if a.metric.startswith(prefix)}
    if asked and not devices:
        devices.add("cpu")
    return tuple(sorted(devices))


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


def run_gate(models: Sequence[ModelSpec], options: GateOptions, say: Say) -> CheckResults:
    """Analyse each spec, measure what its checks need, and check its budgets (the spec's, with the
    options' overrides) and its growth against its baseline."""
    from convprof.report.analyze import analyze

    checks: list[Check] = []
    unchecked: list[str] = []
    reports: list[tuple[str, Report]] = []
    for model in models:
        budgets = model.budgets.merged(options.overrides)
        report = analyze(model, options.optimizer)
        growth = options.allowances if model.name in options.baselines else ()
        needed = {
            timed.key: _timed_devices(budgets, growth, timed.key, timed.key in options.measure)
            for timed in measured_metrics()
        }
        devices, steps = needed["latency_ms"], needed["training_latency_ms"]
        if devices or steps:
            asked = _asked_by(model, options.overrides, growth)
            report = _measure(model, report, devices, steps, options.preset, asked)
        reports.append((model.name, report))
        found: list[Check] = [*check_limits(model.name, budgets, report, strict=options.strict)]
        if model.name in options.baselines:
            baseline_path, baseline_report = options.baselines[model.name]
            _same_protocol(model.name, baseline_path, baseline_report, report, growth, say)
            found += check_growth(
                model.name, options.allowances, baseline_report, report, strict=options.strict
            )
        elif options.baselines:
            say(f"convprof: {model.name}: no baseline report for this spec; growth not checked")
        if not found:
            unchecked.append(model.name)
        checks += found
    return CheckResults(tuple(checks), tuple(unchecked), tuple(reports))
