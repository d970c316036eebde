"""Budget parsing (every unit form, malformed values) and the limit and growth checks."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from convprof.ci.budgets import GrowthCheck, LimitCheck, check_growth, check_limits, parse_growth
from convprof.errors import SpecError, UsageError
from convprof.graph.parse import parse_spec
from convprof.quantity import parse_bytes, parse_count, parse_milliseconds, parse_percent
from convprof.report import SCHEMA_VERSION, Report, SpecInfo, VariantReport
from convprof.report.results import DeviceLatency
from convprof.spec import Budgets
from convprof.spec.budgets import parse_latency_option
from tests.reports import SAMPLES, latency, step


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("61706", 61_706),
        ("100k", 100_000),
        ("100K", 100_000),
        ("1.5M", 1_500_000),
        ("2G", 2_000_000_000),
        ("3T", 3_000_000_000_000),
        ("0.25k", 250),
        ("1_000", 1_000),
    ],
)
def test_count_units_are_exact(text: str, expected: int) -> None:
    assert parse_count(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4096", 4096),
        ("512B", 512),
        ("512KiB", 512 * 1024),
        ("4MiB", 4 * 1024 * 1024),
        ("1GiB", 1024**3),
        ("1.5GiB", 3 * 1024**3 // 2),
        ("2TiB", 2 * 1024**4),
        ("64MB", 64_000_000),
        ("64kB", 64_000),
        ("64KB", 64_000),
        ("2GB", 2_000_000_000),
        ("2G", 2_000_000_000),
        ("100k", 100_000),
    ],
)
def test_byte_units_are_exact(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("1.5x", "unknown unit 'x'"),
        ("abc", "not a number"),
        ("-5k", "not a number"),
        ("1.0001k", "not a whole number"),
        ("4MiB", "is a byte size"),
        ("", "not a number"),
        ("1..5M", "not a number"),
    ],
)
def test_malformed_counts_say_why(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_count(text)


def test_malformed_bytes_name_the_units() -> None:
    with pytest.raises(ValueError, match="KiB, MiB, GiB"):
        parse_bytes("4Mi")


def test_durations_and_percentages() -> None:
    assert parse_milliseconds("5") == 5
    assert parse_milliseconds("0.5ms") == Fraction(1, 2)
    assert parse_milliseconds("500us") == Fraction(1, 2)
    assert parse_milliseconds("1s") == 1000
    with pytest.raises(ValueError, match="positive"):
        parse_milliseconds("0")
    assert parse_percent("5%") == 5
    assert parse_percent("2.5%") == Fraction(5, 2)
    assert parse_percent("0") == 0
    with pytest.raises(ValueError, match="percentage"):
        parse_percent("5x%")


SPEC = """\
name: tiny
input: [1, 8, 8]
budgets:
  params: {params}
  activation_bytes: 4MiB
  latency_ms: {{cpu: 5, cuda: 0.5}}
layers:
  - conv2d: {{out_channels: 2, kernel_size: 3}}
"""


def _parse(text: str) -> Budgets:
    return parse_spec(text.encode(), "tiny.yaml", "tiny").budgets


def test_spec_budgets_parse_to_exact_integers() -> None:
    budgets = _parse(SPEC.format(params="1.5k"))
    assert budgets == Budgets.of(
        {"params": 1500, "activation_bytes": 4 * 2**20, "latency_ms.cpu": 5.0, "latency_ms.cuda": 0.5}
    )
    # In the registry's order whatever order the spec writes them: sizes, then times by device.
    assert [key for key, _ in budgets.limits] == [
        "params",
        "activation_bytes",
        "latency_ms.cpu",
        "latency_ms.cuda",
    ]


def test_spec_without_budgets_has_none() -> None:
    assert _parse("input: [1, 8, 8]\nlayers: [relu]\n") == Budgets()


@pytest.mark.parametrize(
    ("params", "column", "fragment"),
    [
        ("1.5x", 11, "budgets.params: unknown unit 'x'"),
        ("-3", 11, "expected a params limit such as 100k, got -3"),
        ("[1]", 11, "expected a params limit such as 100k, got a list"),
        ("1.00001k", 11, "not a whole number"),
        ("4MiB", 11, "is a byte size"),
    ],
)
def test_malformed_spec_budget_is_located(params: str, column: int, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        _parse(SPEC.format(params=params))
    assert (info.value.line, info.value.column) == (4, column)
    assert fragment in str(info.value)
    assert str(info.value).startswith("tiny.yaml:4:11: ")


@pytest.mark.parametrize(
    ("budgets", "line", "column", "fragment"),
    [
        ("  parms: 100k", 4, 3, "unknown budget 'parms' (did you mean params?)"),
        ("  latency_ms: {gpu: 1}", 4, 16, "unknown device 'gpu'"),
        ("  latency_ms: {cpu: fast}", 4, 21, "latency_ms.cpu"),
        ("  latency_ms: 5", 4, 15, "mapping of device to milliseconds"),
        ("  activation_bytes: 4Mb", 4, 21, "unknown unit 'Mb'"),
        ("  training_latency_ms: {tpu: 1}", 4, 25, "unknown device 'tpu'"),
        ("  training_latency_ms: {cpu: -5}", 4, 30, "expected milliseconds such as 5 or 0.5, got -5"),
        ("  training_latency_ms: 50", 4, 24, "training_latency_ms is a mapping of device to milliseconds"),
        ("  training_latency: {cpu: 5}", 4, 3, "(did you mean training_latency_ms?)"),
    ],
)
def test_malformed_budget_keys_are_located(budgets: str, line: int, column: int, fragment: str) -> None:
    text = f"input: [1, 8, 8]\nlayers: [relu]\nbudgets:\n{budgets}\n"
    with pytest.raises(SpecError) as info:
        _parse(text)
    assert (info.value.line, info.value.column) == (line, column)
    assert fragment in info.value.message


def test_budgets_must_be_a_mapping() -> None:
    with pytest.raises(SpecError, match=r"tiny.yaml:3:10: budgets is a mapping"):
        _parse("input: [1, 8, 8]\nlayers: [relu]\nbudgets: 100k\n")


def test_command_line_overrides_spec_limits() -> None:
    spec = Budgets.of({"params": 10, "macs": 20, "latency_ms.cpu": 5.0, "latency_ms.cuda": 1.0})
    merged = spec.merged(Budgets.of({"params": 99, "latency_ms.cpu": 7.0}))
    assert merged == Budgets.of({"params": 99, "macs": 20, "latency_ms.cpu": 7.0, "latency_ms.cuda": 1.0})


def test_latency_option_and_growth_parsing() -> None:
    assert parse_latency_option("cpu=5") == ("cpu", 5.0)
    assert parse_latency_option("cuda=500us") == ("cuda", 0.5)
    with pytest.raises(UsageError, match="DEVICE=MS"):
        parse_latency_option("tpu=5")
    growth = parse_growth("params=0%,macs=5%,latency_ms.cpu=15%")
    assert [(a.metric, a.percent) for a in growth] == [("params", 0), ("macs", 5), ("latency_ms.cpu", 15)]
    with pytest.raises(UsageError, match="did you mean macs"):
        parse_growth("mac=5%")
    with pytest.raises(UsageError, match="METRIC=PERCENT"):
        parse_growth("macs")


def _conv_only(params: int, measured: DeviceLatency | None) -> Report:
    """A report whose conv variant has `params` parameters, 2 x params MACs and 4 x params bytes."""
    conv = VariantReport(
        name="conv",
        params=params,
        macs=2 * params,
        backward_flops=8 * params,
        elementwise_ops=0,
        param_bytes=4 * params,
        buffer_bytes=0,
        activation_bytes=100,
        saved_activation_bytes=100,
        optimizer_bytes=0,
        training_bytes=8 * params + 200,
        layers=(),
        latency=None if measured is None else (measured,),
    )
    return Report(SCHEMA_VERSION, "0.1.0", SpecInfo("m", "", (1,), 1, "float32"), "sgd", (conv,))


def _report(params: int, cpu_ms: float | None = None) -> Report:
    return _conv_only(params, None if cpu_ms is None else latency("cpu", [cpu_ms] * SAMPLES))


def test_limit_check_at_under_and_over() -> None:
    at, under, over = (LimitCheck("m", "params", 1000, actual) for actual in (1000, 999, 1001))
    assert at.passed
    assert under.passed
    assert not over.passed
    assert at.headroom == 0
    assert over.headroom == Fraction(-1, 10)
    assert over.message() == "m: params 1,001 exceeds its limit 1,000"


@pytest.mark.parametrize(
    ("metric", "allowance", "old", "new", "passed"),
    [
        ("params", "0%", 1000, 1000, True),
        ("params", "0%", 1000, 999, True),
        ("params", "0%", 1000, 1001, False),
        ("macs", "5%", 1000, 1050, True),  # 2,000 -> 2,100 MACs: exactly 5%
        ("macs", "5%", 1000, 1049, True),
        ("macs", "5%", 1000, 1051, False),
        ("param_bytes", "2.5%", 1000, 1025, True),
        ("param_bytes", "2.5%", 1000, 1026, False),
    ],
)
def test_growth_at_under_and_over_allowance(
    metric: str, allowance: str, old: int, new: int, passed: bool
) -> None:
    (check,) = check_growth("m", parse_growth(f"{metric}={allowance}"), _report(old), _report(new))
    assert check.passed is passed


@pytest.mark.parametrize(("new_ms", "passed"), [(11.5, True), (11.499, True), (11.501, False)])
def test_latency_growth_is_exact(new_ms: float, passed: bool) -> None:
    (check,) = check_growth("m", parse_growth("latency_ms.cpu=15%"), _report(1, 10.0), _report(1, new_ms))
    assert check.passed is passed


def test_growth_from_zero_and_unmeasured() -> None:
    assert not GrowthCheck("m", "params", Fraction(50), 0, 1).passed
    unmeasured = GrowthCheck("m", "latency_ms.cpu", Fraction(5), None, 3.0)
    assert unmeasured.passed
    assert unmeasured.limit is None


def test_check_limits_reads_the_conv_variant() -> None:
    budgets = Budgets.of({"params": 500, "macs": 3000, "latency_ms.cpu": 5.0})
    checks = check_limits("m", budgets, _report(1000, 4.0))
    assert [(c.metric, c.limit, c.actual, c.passed) for c in checks] == [
        ("params", 500, 1000, False),
        ("macs", 3000, 2000, True),
        ("latency_ms.cpu", 5.0, 4.0, True),
    ]


def _report_with_cpu_latency(raw_ms: list[float]) -> Report:
    return _conv_only(1, latency("cpu", raw_ms))


STEADY = [2.0, 2.0, 2.0, 2.0, 2.0]
SCATTERED = [1.0, 1.0, 2.0, 8.0, 9.0]  # median 2, IQR 7: 350% of the median


def test_a_latency_within_its_limit_on_an_unstable_median_passes_marked_or_fails_strictly() -> None:
    budgets = Budgets.of({"latency_ms.cpu": 5.0})
    [steady] = check_limits("s", budgets, _report_with_cpu_latency(STEADY))
    assert steady.passed
    assert not steady.unstable
    assert steady.actual_text() == "2.000 ms"
    [lenient] = check_limits("s", budgets, _report_with_cpu_latency(SCATTERED))
    assert lenient.passed
    assert lenient.unstable
    assert lenient.actual_text() == "~2.000 ms"
    [strict] = check_limits("s", budgets, _report_with_cpu_latency(SCATTERED), strict=True)
    assert not strict.passed
    assert strict.message() == (
        "s: latency_ms.cpu ~2.000 ms rests on an unstable median "
        "(IQR/median over 10% or rounds differing by over 10%) (--strict-latency)"
    )
    [over] = check_limits("s", Budgets.of({"latency_ms.cpu": 1.5}), _report_with_cpu_latency(SCATTERED))
    assert over.message() == "s: latency_ms.cpu ~2.000 ms exceeds its limit 1.500 ms"


def test_a_growth_check_is_unstable_when_either_side_is() -> None:
    [allowance] = parse_growth("latency_ms.cpu=50%")
    steady, scattered = _report_with_cpu_latency(STEADY), _report_with_cpu_latency(SCATTERED)
    [both] = check_growth("s", [allowance], steady, steady, strict=True)
    assert both.passed
    assert not both.unstable
    [old] = check_growth("s", [allowance], scattered, steady)
    assert old.passed
    assert old.unstable
    [new] = check_growth("s", [allowance], steady, scattered, strict=True)
    assert not new.passed
    assert new.unstable


def test_training_latency_budgets_parse_from_the_spec_and_the_command_line() -> None:
    text = "input: [1, 8, 8]\nlayers: [relu]\nbudgets:\n  training_latency_ms: {cpu: 50, cuda: 500us}\n"
    assert _parse(text) == Budgets.of({"training_latency_ms.cpu": 50.0, "training_latency_ms.cuda": 0.5})
    assert parse_latency_option("cpu=2s", "--max-training-latency") == ("cpu", 2000.0)
    with pytest.raises(UsageError, match=r"^--max-training-latency 'gpu=5': write DEVICE=MS"):
        parse_latency_option("gpu=5", "--max-training-latency")
    merged = _parse(text).merged(Budgets.of({"training_latency_ms.cpu": 80.0}))
    assert merged.devices("training_latency_ms") == (("cpu", 80.0), ("cuda", 0.5))
    growth = parse_growth("training_latency_ms.cpu=15%,latency_ms.cpu=5%")
    assert [a.metric for a in growth] == ["training_latency_ms.cpu", "latency_ms.cpu"]
    with pytest.raises(UsageError, match=r"did you mean training_latency_ms\.cpu"):
        parse_growth("training_latency_ms.cpus=5%")


def _with_step(raw_ms: list[float], device: str = "cpu") -> Report:
    report = _conv_only(1, latency(device, [1.0] * SAMPLES))
    conv = replace(report.variants[0], training_latency=(step(device, raw_ms),))
    return replace(report, variants=(conv,))


def test_a_training_latency_budget_passes_fails_and_follows_the_stability_rules() -> None:
    budgets = Budgets.of({"training_latency_ms.cpu": 5.0})
    [within] = check_limits("s", budgets, _with_step(STEADY))
    assert (within.metric, within.actual, within.passed, within.unstable) == (
        "training_latency_ms.cpu",
        2.0,
        True,
        False,
    )
    assert within.actual_text() == "2.000 ms"
    [over] = check_limits("s", Budgets.of({"training_latency_ms.cpu": 1.5}), _with_step(STEADY))
    assert not over.passed
    assert over.message() == "s: training_latency_ms.cpu 2.000 ms exceeds its limit 1.500 ms"
    [lenient] = check_limits("s", budgets, _with_step(SCATTERED))
    assert lenient.passed
    assert lenient.actual_text() == "~2.000 ms"
    [strict] = check_limits("s", budgets, _with_step(SCATTERED), strict=True)
    assert not strict.passed
    assert "training_latency_ms.cpu ~2.000 ms rests on an unstable median" in strict.message()
    # A budget names `cuda`; the step measured on the first GPU answers it.
    [gpu] = check_limits("s", Budgets.of({"training_latency_ms.cuda": 5.0}), _with_step(STEADY, "cuda:0"))
    assert gpu.actual == 2.0
    [unmeasured] = check_limits("s", budgets, _conv_only(1, None))
    assert unmeasured.actual is None
    assert unmeasured.actual_text() == "not measured"


@pytest.mark.parametrize(("new_ms", "passed"), [(2.3, True), (2.299, True), (2.301, False)])
def test_training_latency_growth_is_exact(new_ms: float, passed: bool) -> None:
    [allowance] = parse_growth("training_latency_ms.cpu=15%")
    [check] = check_growth("m", [allowance], _with_step([2.0] * SAMPLES), _with_step([new_ms] * SAMPLES))
    assert check.passed is passed
    [unstable] = check_growth("m", [allowance], _with_step(SCATTERED), _with_step(STEADY), strict=True)
    assert unstable.unstable
    assert not unstable.passed
