"""Budgets and growth allowances: parsed from a spec or the command line, checked against a report."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from convprof.errors import ConvprofError, SpecError, UsageError
from convprof.quantity import parse_bytes, parse_count, parse_milliseconds, parse_percent
from convprof.report import LOWER_BOUND_MARK
from convprof.report.stats import IQR_WARN_THRESHOLD, ROUND_SPREAD_THRESHOLD, UNSTABLE_MARK
from convprof.spec import Budgets, yamlnode
from convprof.spec.args import describe
from convprof.units import clip

if TYPE_CHECKING:
    from convprof.report import Report
    from convprof.report.results import DeviceLatency

__all__ = [
    "BUDGET_METRICS",
    "LATENCY_BUDGETS",
    "LATENCY_DEVICES",
    "LATENCY_PREFIX",
    "LOWER_BOUND_MARK",
    "TRAINING_LATENCY_PREFIX",
    "UNVERIFIED_VERDICT",
    "Allowance",
    "BudgetExceeded",
    "Check",
    "GrowthCheck",
    "LimitCheck",
    "check_growth",
    "check_limits",
    "is_latency",
    "lower_bound_metrics",
    "merge_budgets",
    "metric_stability",
    "metric_values",
    "parse_budgets",
    "parse_growth",
    "parse_latency_option",
    "parse_limit",
]

#: Budget metrics that are counts (k, M, G multipliers).
COUNT_METRICS = ("params", "trainable_params", "macs", "flops", "training_flops")
#: Budget metrics that are byte sizes (KiB, MiB, GiB or kB, MB, GB).
BYTE_METRICS = ("param_bytes", "activation_bytes", "training_bytes")
#: Every size metric a budget may limit, in the order tables list them.
BUDGET_METRICS = COUNT_METRICS + BYTE_METRICS
#: Devices a latency budget may name.
LATENCY_DEVICES = ("cpu", "cuda")
#: Prefix of latency metrics: `latency_ms.cpu` is the conv variant's median latency on the CPU.
LATENCY_PREFIX = "latency_ms."
#: Prefix of training-step metrics: `training_latency_ms.cpu` is the conv variant's median step.
TRAINING_LATENCY_PREFIX = "training_latency_ms."
#: The budgets of measured times, by key (in a spec's `budgets:`, a Budgets field): what they time.
LATENCY_BUDGETS = {"latency_ms": "latency", "training_latency_ms": "training step"}


class BudgetExceeded(ConvprofError):
    """One or more budgets or growth allowances exceeded; the CLI exits 1."""

    exit_code = 1


def _suggest(word: str, options: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def parse_limit(metric: str, text: str) -> int:
    """Return the exact limit `text` writes for a size metric; ValueError says what is wrong."""
    return parse_bytes(text) if metric in BYTE_METRICS else parse_count(text)


def _scalar_text(node: yamlnode.Node, path: str, expected: str) -> str:
    if not isinstance(node, yamlnode.Scalar) or node.tag not in ("int", "float", "str"):
        raise SpecError(f"expected {expected}, got {describe(node)}", path, node.line, node.column)
    if node.tag == "int":
        assert isinstance(node.value, int)
        if node.value < 0:
            raise SpecError(f"expected {expected}, got {node.text}", path, node.line, node.column)
        return str(node.value)  # YAML reads 1_000 and 0x10 as integers; keep its reading
    return node.text


def is_latency(metric: str) -> bool:
    """Return True for a measured time (`latency_ms.cpu`, `training_latency_ms.cuda`), in milliseconds."""
    return metric.startswith((LATENCY_PREFIX, TRAINING_LATENCY_PREFIX))


def _latency_budgets(node: yamlnode.Node, path: str, key: str) -> tuple[tuple[str, float], ...]:
    if not isinstance(node, yamlnode.Mapping):
        raise SpecError(
            f"{key} is a mapping of device to milliseconds, e.g. {{cpu: 5, cuda: 0.5}}, got {describe(node)}",
            path,
            node.line,
            node.column,
        )
    limits: dict[str, float] = {}
    for device, (key_node, value_node) in node.items.items():
        if device not in LATENCY_DEVICES:
            hint = _suggest(device, LATENCY_DEVICES) or f"; use {' or '.join(LATENCY_DEVICES)}"
            raise SpecError(f"unknown device {clip(device)}{hint}", path, key_node.line, key_node.column)
        text = _scalar_text(value_node, path, "milliseconds such as 5 or 0.5")
        try:
            limits[device] = float(parse_milliseconds(text))
        except ValueError as exc:
            raise SpecError(f"{key}.{device}: {exc}", path, value_node.line, value_node.column) from None
    return tuple(sorted(limits.items()))


def parse_budgets(node: yamlnode.Node, path: str) -> Budgets:
    """Return the Budgets a spec's `budgets:` mapping sets; SpecError names line and column."""
    if not isinstance(node, yamlnode.Mapping):
        raise SpecError(
            f"budgets is a mapping such as {{params: 100k, macs: 1G}}, got {describe(node)}",
            path,
            node.line,
            node.column,
        )
    values: dict[str, Any] = {}
    allowed = [*BUDGET_METRICS, *LATENCY_BUDGETS]
    for key, (key_node, value_node) in node.items.items():
        if key in LATENCY_BUDGETS:
            values[key] = _latency_budgets(value_node, path, key)
        elif key in BUDGET_METRICS:
            example = "4MiB" if key in BYTE_METRICS else "100k"
            text = _scalar_text(value_node, path, f"a {key} limit such as {example}")
            try:
                values[key] = parse_limit(key, text)
            except ValueError as exc:
                raise SpecError(f"budgets.{key}: {exc}", path, value_node.line, value_node.column) from None
        else:
            hint = _suggest(key, allowed) or f"; budgets take {', '.join(allowed)}"
            raise SpecError(f"unknown budget {clip(key)}{hint}", path, key_node.line, key_node.column)
    return Budgets(**values)


def merge_budgets(base: Budgets, override: Budgets) -> Budgets:
    """Return `base` with every limit `override` sets replacing it (latencies per device)."""
    changes: dict[str, Any] = {
        f.name: getattr(override, f.name)
        for f in fields(Budgets)
        if f.name not in LATENCY_BUDGETS and getattr(override, f.name) is not None
    }
    for key in LATENCY_BUDGETS:
        merged = dict(getattr(base, key)) | dict(getattr(override, key))
        changes[key] = tuple(sorted(merged.items()))
    return replace(base, **changes)


def parse_latency_option(text: str, option: str = "--max-latency") -> tuple[str, float]:
    """Return (device, ms) from `cpu=5` given to `option`; UsageError says the form."""
    device, sep, value = text.partition("=")
    device = device.strip()
    if not sep or device not in LATENCY_DEVICES:
        raise UsageError(f"{option} {clip(text)}: write DEVICE=MS with DEVICE cpu or cuda, e.g. cpu=5")
    try:
        return device, float(parse_milliseconds(value))
    except ValueError as exc:
        raise UsageError(f"{option} {clip(text)}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Allowance:
    """How much one metric may grow against a baseline report."""

    metric: str
    """A size metric (`params`) or a measured time (`latency_ms.cpu`, `training_latency_ms.cpu`)."""
    percent: Fraction
    """Largest growth allowed, in percent of the baseline value; exact."""


def _metric_names() -> list[str]:
    return [
        *BUDGET_METRICS,
        *(LATENCY_PREFIX + d for d in LATENCY_DEVICES),
        *(TRAINING_LATENCY_PREFIX + d for d in LATENCY_DEVICES),
    ]


def parse_growth(text: str) -> tuple[Allowance, ...]:
    """Return the allowances of `params=0%,macs=5%,latency_ms.cpu=15%`; UsageError on a bad item."""
    allowances: dict[str, Allowance] = {}
    for item in text.split(","):
        metric, sep, value = item.strip().partition("=")
        metric = metric.strip()
        if not sep or not metric:
            raise UsageError(f"--max-growth {clip(item.strip())}: write METRIC=PERCENT, e.g. macs=5%")
        if metric not in _metric_names():
            hint = _suggest(metric, _metric_names()) or f"; metrics: {', '.join(_metric_names())}"
            raise UsageError(f"--max-growth: unknown metric {clip(metric)}{hint}")
        try:
            allowances[metric] = Allowance(metric, parse_percent(value))
        except ValueError as exc:
            raise UsageError(f"--max-growth {clip(item.strip())}: {exc}") from None
    return tuple(allowances.values())


Number = int | float


def _timed(report: Report, variant: str) -> list[tuple[str, DeviceLatency]]:
    """Return (metric prefix, result) of each measured time of a variant: latency, then training step,
    each by device."""
    data = report.variant(variant)
    found = [
        (prefix, result)
        for prefix, results in (
            (LATENCY_PREFIX, data.latency),
            (TRAINING_LATENCY_PREFIX, data.training_latency),
        )
        for result in sorted(results or (), key=lambda result: result.device)
    ]
    return found


def metric_values(report: Report, variant: str = "conv") -> dict[str, Number | None]:
    """Return a report's size metrics and median times (`latency_ms.cpu`, `training_latency_ms.cpu`)
    for one variant."""
    data = report.variant(variant)
    values: dict[str, Number | None] = {m: getattr(data, m) for m in BUDGET_METRICS}
    for prefix, measured in _timed(report, variant):
        median = None if measured.stats is None else measured.stats.median_ms
        values[prefix + measured.device] = median
        # A budget names `cuda`; measurements name the GPU they ran on (`cuda:0`): the first one counts.
        values.setdefault(prefix + measured.device.partition(":")[0], median)
    return values


def lower_bound_metrics(report: Report, variant: str = "conv") -> frozenset[str]:
    """Return the metrics of a report's variant that are lower bounds: totals that leave out the
    unknown counts of opaque ops (MACs and FLOPs; parameters and bytes are always exact)."""
    return frozenset(report.variant(variant).lower_bounds)


def metric_stability(report: Report, variant: str = "conv") -> dict[str, bool | None]:
    """Return whether each measured time (`latency_ms.cpu`, `training_latency_ms.cpu`) of a report's
    variant is stable."""
    stability: dict[str, bool | None] = {}
    for prefix, measured in _timed(report, variant):
        stable = None if measured.stats is None else measured.stats.stable
        stability[prefix + measured.device] = stable
        stability.setdefault(prefix + measured.device.partition(":")[0], stable)
    return stability


#: Why a check on a lower bound within its limit is not verified.
UNVERIFIED_VERDICT = (
    "NOT VERIFIED: the total leaves opaque ops' unknown counts out, so the true value may exceed what "
    "is allowed"
)

#: What a check says when its verdict rests on an unstable median.
UNSTABLE_VERDICT = (
    f"rests on an unstable median (IQR/median over {IQR_WARN_THRESHOLD:.0%} "
    f"or rounds differing by over {ROUND_SPREAD_THRESHOLD:.0%})"
)


def _percent(numerator: Fraction) -> str:
    return f"{float(numerator):+.2f}%"


def _mark(unstable: bool) -> str:
    return UNSTABLE_MARK if unstable else ""


def _show(metric: str, value: Number, lower_bound: bool = False) -> str:
    if is_latency(metric):
        return f"{value:.3f} ms"
    return f"{LOWER_BOUND_MARK if lower_bound else ''}{value:,}"


@dataclass(frozen=True, slots=True)
class LimitCheck:
    """One metric of one spec against an absolute limit."""

    spec: str
    """Name of the spec checked."""
    metric: str
    """`params`, `macs`, ..., `latency_ms.DEVICE` or `training_latency_ms.DEVICE`."""
    limit: Number
    """The largest value allowed."""
    actual: Number | None
    """The value of the conv variant; None when a latency was not measured."""
    unstable: bool = False
    """A latency whose raw samples were too spread out to trust its median."""
    strict: bool = False
    """Fail an unstable latency even when it is within the limit (--strict-latency)."""
    lower_bound: bool = False
    """The value is a lower bound: it leaves out the unknown counts of opaque ops."""

    @property
    def within(self) -> bool:
        """True unless the value is known to exceed the limit (a lower bound above it does)."""
        return self.actual is None or Fraction(self.actual) <= Fraction(self.limit)

    @property
    def verified(self) -> bool:
        """False when the value is a lower bound within the limit: the true value may still exceed it."""
        return not (self.lower_bound and self.actual is not None and self.within)

    @property
    def passed(self) -> bool:
        """True when within the limit, and stable too under --strict-latency (an unverified check is
        not failed: it is reported as unverified, and --require-budgets refuses it)."""
        return self.within and not (self.strict and self.unstable and self.actual is not None)

    @property
    def headroom(self) -> Fraction | None:
        """Percent of the limit still free (negative when exceeded; at most this for a lower bound);
        None when unmeasured or limit 0."""
        if self.actual is None or self.limit == 0:
            return None
        return (Fraction(self.limit) - Fraction(self.actual)) * 100 / Fraction(self.limit)

    def limit_text(self) -> str:
        """Return the limit as a table shows it."""
        return _show(self.metric, self.limit)

    def actual_text(self) -> str:
        """Return the value as a table shows it, marked when unstable or a lower bound."""
        if self.actual is None:
            return "not measured"
        return _mark(self.unstable) + _show(self.metric, self.actual, self.lower_bound)

    def message(self) -> str:
        """Return the failure in one line: spec, metric, limit and actual."""
        if self.within and not self.verified:
            return (
                f"{self.spec}: {self.metric} {self.actual_text()} is within its limit {self.limit_text()} "
                f"as far as it is counted; {UNVERIFIED_VERDICT}"
            )
        if self.within:
            return f"{self.spec}: {self.metric} {self.actual_text()} {UNSTABLE_VERDICT} (--strict-latency)"
        return f"{self.spec}: {self.metric} {self.actual_text()} exceeds its limit {self.limit_text()}"


@dataclass(frozen=True, slots=True)
class GrowthCheck:
    """One metric of one spec against its value in a baseline report plus an allowance."""

    spec: str
    """Name of the spec checked."""
    metric: str
    """`params`, `macs`, ..., `latency_ms.DEVICE` or `training_latency_ms.DEVICE`."""
    allowance: Fraction
    """Largest growth allowed, in percent of the baseline."""
    baseline: Number | None
    """The value in the baseline report; None when it has none (not measured there)."""
    actual: Number | None
    """The value now; None when not measured."""
    unstable: bool = False
    """A latency whose median, now or in the baseline, comes from samples too spread out to trust."""
    strict: bool = False
    """Fail an unstable latency even when its growth is within the allowance (--strict-latency)."""
    lower_bound: bool = False
    """The value now is a lower bound (it leaves opaque ops' unknown counts out)."""
    baseline_lower_bound: bool = False
    """The baseline's value is a lower bound: the value allowed is then at least `limit`."""

    @property
    def limit(self) -> Fraction | None:
        """The largest value allowed: baseline x (1 + allowance/100) (at least that when the baseline
        is a lower bound)."""
        if self.baseline is None:
            return None
        return Fraction(self.baseline) * (100 + self.allowance) / 100

    @property
    def within(self) -> bool:
        """True unless the value is known to exceed what is allowed (or either side was not measured).

        A lower bound above an exact limit exceeds it; nothing exceeds a limit that is itself only
        a lower bound."""
        limit = self.limit
        exceeds = limit is not None and self.actual is not None and Fraction(self.actual) > limit
        return not exceeds or self.baseline_lower_bound

    @property
    def verified(self) -> bool:
        """False when lower bounds leave the verdict open: a lower bound within the limit, or a
        limit from a lower bound that the value exceeds."""
        limit = self.limit
        if limit is None or self.actual is None:
            return True
        if Fraction(self.actual) > limit:
            return not self.baseline_lower_bound
        return not self.lower_bound

    @property
    def passed(self) -> bool:
        """True when within the allowance, and stable too under --strict-latency."""
        measured = self.actual is not None and self.baseline is not None
        return self.within and not (self.strict and self.unstable and measured)

    @property
    def growth(self) -> Fraction | None:
        """Change against the baseline in percent; None when unknown, between lower bounds (no exact
        change), or the baseline is 0."""
        if self.baseline is None or self.actual is None or self.baseline == 0:
            return None
        if self.lower_bound or self.baseline_lower_bound:
            return None
        return (Fraction(self.actual) - Fraction(self.baseline)) * 100 / Fraction(self.baseline)

    @property
    def headroom(self) -> Fraction | None:
        """Percent of the allowed value still free (negative when exceeded); None when the allowed
        value is only a lower bound."""
        limit = self.limit
        if limit is None or self.actual is None or limit == 0 or self.baseline_lower_bound:
            return None
        return (limit - Fraction(self.actual)) * 100 / limit

    def limit_text(self) -> str:
        """Return the allowance and its baseline as a table shows them."""
        if self.baseline is None:
            return f"+{float(self.allowance):g}% of (not in baseline)"
        baseline = _show(self.metric, self.baseline, self.baseline_lower_bound)
        return f"+{float(self.allowance):g}% of {baseline}"

    def actual_text(self) -> str:
        """Return the value and its growth as a table shows them."""
        if self.actual is None:
            return "not measured"
        growth = self.growth
        suffix = "" if growth is None else f" ({_percent(growth)})"
        return _mark(self.unstable) + _show(self.metric, self.actual, self.lower_bound) + suffix

    def message(self) -> str:
        """Return the failure in one line: spec, metric, allowance, baseline and actual."""
        if self.within and not self.verified:
            return (
                f"{self.spec}: {self.metric} {self.actual_text()} against {self.limit_text()} rests on "
                f"a lower bound; {UNVERIFIED_VERDICT}"
            )
        if self.within:
            return f"{self.spec}: {self.metric} {self.actual_text()} {UNSTABLE_VERDICT} (--strict-latency)"
        return (
            f"{self.spec}: {self.metric} grew to {self.actual_text()}, "
            f"more than the {self.limit_text()} allowed"
        )


Check = LimitCheck | GrowthCheck


def check_limits(spec: str, budgets: Budgets, report: Report, *, strict: bool = False) -> list[LimitCheck]:
    """Return one check per limit in `budgets` against the conv variant of a report.

    With `strict`, a latency within its limit still fails when its median is unstable.
    """
    values = metric_values(report)
    stability = metric_stability(report)
    bounds = lower_bound_metrics(report)
    checks: list[LimitCheck] = []
    for metric in BUDGET_METRICS:
        limit = getattr(budgets, metric)
        if limit is not None:
            checks.append(LimitCheck(spec, metric, limit, values[metric], lower_bound=metric in bounds))
    for prefix, limits in (
        (LATENCY_PREFIX, budgets.latency_ms),
        (TRAINING_LATENCY_PREFIX, budgets.training_latency_ms),
    ):
        for device, limit_ms in limits:
            metric = prefix + device
            unstable = stability.get(metric) is False
            checks.append(LimitCheck(spec, metric, limit_ms, values.get(metric), unstable, strict))
    return checks


def check_growth(
    spec: str,
    allowances: Iterable[Allowance],
    baseline: Report,
    report: Report,
    *,
    strict: bool = False,
) -> list[GrowthCheck]:
    """Return one check per allowance: the conv variant of `report` against that of `baseline`."""
    old, new = metric_values(baseline), metric_values(report)
    old_stable, new_stable = metric_stability(baseline), metric_stability(report)
    old_bounds, new_bounds = lower_bound_metrics(baseline), lower_bound_metrics(report)
    return [
        GrowthCheck(
            spec,
            a.metric,
            a.percent,
            old.get(a.metric),
            new.get(a.metric),
            old_stable.get(a.metric) is False or new_stable.get(a.metric) is False,
            strict,
            lower_bound=a.metric in new_bounds,
            baseline_lower_bound=a.metric in old_bounds,
        )
        for a in allowances
    ]
