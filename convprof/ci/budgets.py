"""Budget and growth checks of a report: each limit or allowance against the conv variant's value.

Which metrics there are, how each is read from a report and whether it can be a lower bound comes
from the metric registry (convprof.metrics); a spec's budgets are read in convprof.spec.budgets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from convprof.errors import ConvprofError, UsageError
from convprof.metrics import Number, budget_metrics, growth_keys, measured_metrics, metric_of, totals
from convprof.quantity import parse_percent
from convprof.report import LOWER_BOUND_MARK
from convprof.report.stats import IQR_WARN_THRESHOLD, ROUND_SPREAD_THRESHOLD, UNSTABLE_MARK
from convprof.spec.budgets import suggest
from convprof.units import clip

if TYPE_CHECKING:
    from convprof.report import Report
    from convprof.spec import Budgets

__all__ = [
    "UNSTABLE_VERDICT",
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
    "metric_stability",
    "metric_values",
    "parse_growth",
]


class BudgetExceeded(ConvprofError):
    """One or more budgets or growth allowances exceeded; the CLI exits 1."""

    exit_code = 1


def is_latency(name: str) -> bool:
    """Return True for a measured time (`latency_ms.cpu`, `training_latency_ms.cuda`), in milliseconds."""
    found = metric_of(name)
    return found is not None and found.measured and found.unit == "milliseconds"


@dataclass(frozen=True, slots=True)
class Allowance:
    """How much one metric may grow against a baseline report."""

    metric: str
    """A size metric (`params`) or a measured time (`latency_ms.cpu`, `training_latency_ms.cpu`)."""
    percent: Fraction
    """Largest growth allowed, in percent of the baseline value; exact."""


def parse_growth(text: str) -> tuple[Allowance, ...]:
    """Return the allowances of `params=0%,macs=5%,latency_ms.cpu=15%`; UsageError on a bad item."""
    allowances: dict[str, Allowance] = {}
    for item in text.split(","):
        metric, sep, value = item.strip().partition("=")
        metric = metric.strip()
        if not sep or not metric:
            raise UsageError(f"--max-growth {clip(item.strip())}: write METRIC=PERCENT, e.g. macs=5%")
        names = growth_keys()
        if metric not in names:
            hint = suggest(metric, names) or f"; metrics: {', '.join(names)}"
            raise UsageError(f"--max-growth: unknown metric {clip(metric)}{hint}")
        try:
            allowances[metric] = Allowance(metric, parse_percent(value))
        except ValueError as exc:
            raise UsageError(f"--max-growth {clip(item.strip())}: {exc}") from None
    return tuple(allowances.values())


def metric_values(report: Report, variant: str = "conv") -> dict[str, Number | None]:
    """Return a report's size metrics and median times (`latency_ms.cpu`, `training_latency_ms.cpu`)
    for one variant."""
    data = report.variant(variant)
    values: dict[str, Number | None] = {m.key: m.read(data) for m in budget_metrics()}
    for measured in measured_metrics():
        for name, median, _ in measured.medians(data):
            # A budget names `cuda`; measurements name the GPU they ran on (`cuda:0`): the first one counts.
            values.setdefault(name, median)
    return values


def lower_bound_metrics(report: Report, variant: str = "conv") -> frozenset[str]:
    """Return the metrics of a report's variant that are lower bounds: totals that leave out the
    unknown counts of opaque ops (MACs and FLOPs; parameters and bytes are always exact)."""
    data = report.variant(variant)
    return frozenset(m.key for m in totals() if m.is_lower_bound(data))


def metric_stability(report: Report, variant: str = "conv") -> dict[str, bool | None]:
    """Return whether each measured time (`latency_ms.cpu`, `training_latency_ms.cpu`) of a report's
    variant is stable."""
    stability: dict[str, bool | None] = {}
    for measured in measured_metrics():
        for name, _, stable in measured.medians(report.variant(variant)):
            stability.setdefault(name, stable)
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
    for metric, limit in budgets.limits:
        if is_latency(metric):
            unstable = stability.get(metric) is False
            checks.append(LimitCheck(spec, metric, limit, values.get(metric), unstable, strict))
        else:
            checks.append(LimitCheck(spec, metric, limit, values[metric], lower_bound=metric in bounds))
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
