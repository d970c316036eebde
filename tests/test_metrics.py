"""The metric registry: each metric declared once, and budgets, options, growth, diff, merge, sweep and
the schemas all derived from it (a metric added to the registry is budgeted, checked and diffed)."""

from __future__ import annotations

import ast
import json
from dataclasses import fields
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from convprof import metrics
from convprof.ci.budgets import BudgetExceeded, check_limits, metric_values, parse_growth
from convprof.ci.diff import LAYER_FIELDS, diff_reports
from convprof.ci.gate import CheckResults, GateOptions, run_gate
from convprof.cli import cli
from convprof.errors import SpecError, UsageError
from convprof.graph.parse import parse_spec
from convprof.metrics import METRICS, Metric, metric, metric_of
from convprof.render.checks import checks_json
from convprof.render.schemas import check_schema, sweep_schema
from convprof.report import LOWER_BOUND_TOTALS, VARIANT_TOTALS, LayerReport, Report, VariantReport
from convprof.report.analyze import analyze
from convprof.spec import Budgets, ModelSpec
from convprof.sweep.model import POINT_FIGURES
from tests.conftest import ROOT, SPECS

#: LeNet-5's published parameter count: conv 156 + 2,416, linear 48,120 + 10,164 + 850.
LENET5_PARAMS = 156 + 2_416 + 48_120 + 10_164 + 850
#: LeNet-5's MACs: c1 28*28*6*25, c3 10*10*16*150, then 400*120, 120*84 and 84*10.
LENET5_MACS = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10

#: Modules that once listed the size metrics again, each its own way: now they name none.
_CONSUMERS = (
    "convprof/spec/__init__.py",
    "convprof/spec/budgets.py",
    "convprof/ci/budgets.py",
    "convprof/ci/gate.py",
    "convprof/ci/merge.py",
    "convprof/commands/check.py",
    "convprof/render/checks.py",
    "convprof/sweep/axes.py",
    "convprof/sweep/points.py",
)


def _lenet5() -> ModelSpec:
    path = SPECS / "lenet5.yaml"
    return parse_spec(path.read_bytes(), str(path), "lenet5")


def _linear(out_features: int, budgets: str = "") -> ModelSpec:
    """A linear layer on 100 float32 features: 101 x out_features params, 100 x out_features MACs."""
    text = f"name: fc\ninput: [100]\nlayers:\n  - linear: {{out_features: {out_features}, name: fc}}\n"
    return parse_spec((text + budgets).encode(), "fc.yaml", "fc")


def test_metrics_are_declared_only_in_the_registry() -> None:
    """Every `Metric(...)` of the package is in convprof/metrics.py; no other module declares one."""
    declared: dict[str, list[int]] = {}
    for path in sorted((ROOT / "convprof").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Metric":
                declared.setdefault(str(path.relative_to(ROOT)), []).append(node.lineno)
    assert list(declared) == ["convprof/metrics.py"]
    assert len(declared["convprof/metrics.py"]) == len(METRICS)


def test_a_key_declared_twice_is_refused() -> None:
    before = dict(METRICS)
    with pytest.raises(ValueError, match="metric 'params' is declared twice"):
        metrics._declare(Metric("params", "Parameters", "Params", "count", "again"))
    assert before == METRICS


@pytest.mark.parametrize("module", _CONSUMERS)
def test_no_consumer_names_a_size_metric_again(module: str) -> None:
    """What budgets, options and checks limit comes from the registry: no key written out again."""
    sizes = {m.key for m in metrics.budget_metrics()}
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    named = sorted(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in sizes
    )
    assert named == []


def test_totals_and_layer_metrics_are_the_reports_own_fields() -> None:
    variant_names = {f.name for f in fields(VariantReport)} | {
        name for name in dir(VariantReport) if isinstance(getattr(VariantReport, name), property)
    }
    layer_names = {f.name for f in fields(LayerReport)} | {
        name for name in dir(LayerReport) if isinstance(getattr(LayerReport, name), property)
    }
    assert tuple(m.key for m in metrics.totals()) == VARIANT_TOTALS
    assert set(VARIANT_TOTALS) <= variant_names
    assert {
        m.key for m in METRICS.values() if m.derive is None and not m.measured and m.layer != "fan_in"
    } <= (variant_names)
    assert {m.layer for m in metrics.layer_metrics()} <= layer_names
    assert {m.results for m in METRICS.values() if m.measured} == {"latency", "training_latency"}
    assert LAYER_FIELDS[3:] == tuple(m.layer for m in metrics.layer_metrics())


def test_lower_bound_rule_agrees_with_what_a_report_can_leave_unknown() -> None:
    """A layer that knows none of its counts makes every metric the registry calls boundable a lower
    bound, and no other."""
    opaque = LayerReport(
        index=0, path="op", inputs=("input",), depth=0, kind="Opaque", output_shape=(4,), params=8,
        buffer_bytes=0, macs=None, backward_flops=None, elementwise_ops=None, activation_bytes=16,
        saved_bytes=None, receptive_field=None, fan_in=None,
    )  # fmt: skip
    variant = VariantReport(
        name="conv", params=8, macs=0, backward_flops=0, elementwise_ops=0, param_bytes=32, buffer_bytes=0,
        activation_bytes=16, saved_activation_bytes=0, optimizer_bytes=0, training_bytes=0, layers=(opaque,),
    )  # fmt: skip
    assert variant.lower_bounds == LOWER_BOUND_TOTALS
    assert tuple(m.key for m in metrics.totals() if m.lower_bound) == LOWER_BOUND_TOTALS
    assert [m.key for m in metrics.totals() if m.is_lower_bound(variant)] == list(LOWER_BOUND_TOTALS)


def test_readers_give_lenet5s_published_figures() -> None:
    conv = analyze(_lenet5()).variant("conv")
    assert metric("params").read(conv) == LENET5_PARAMS == 61_706
    assert metric("macs").read(conv) == LENET5_MACS
    assert metric("flops").read(conv) == 2 * LENET5_MACS
    assert metric("param_bytes").read(conv) == 4 * LENET5_PARAMS  # float32
    memory = metric("memory_bytes").read(conv)
    assert memory == 4 * LENET5_PARAMS + conv.buffer_bytes + conv.activation_bytes
    assert metric("latency_s").read(conv) is None  # nothing measured
    first = conv.layers[0]
    assert metric("macs").read_layer(first) == 28 * 28 * 6 * 25
    assert metric("saved_activation_bytes").read_layer(first) == first.saved_bytes


@pytest.mark.parametrize(
    ("key", "text", "limit"),
    [
        ("params", "1.5k", 1_500),
        ("macs", "2G", 2_000_000_000),
        ("param_bytes", "4MiB", 4 * 2**20),
        ("activation_bytes", "64MB", 64_000_000),
        ("latency_ms", "500us", 0.5),
        ("training_latency_ms", "2s", 2000.0),
    ],
)
def test_each_metric_parses_its_limits_in_its_unit(key: str, text: str, limit: float) -> None:
    assert metric(key).parse_limit(text) == limit


def test_names_resolve_to_their_metric() -> None:
    assert metric_of("latency_ms.cpu") is metric("latency_ms")
    assert metric_of("training_latency_ms.cuda:0") is metric("training_latency_ms")
    assert metric_of("params") is metric("params")
    for name in ("latency_ms", "latency_ms.", "params.cpu", "parameters"):
        assert metric_of(name) is None, name
    assert metric("latency_ms").option == "--max-latency"
    assert metric("training_latency_ms").option == "--max-training-latency"
    assert metric("param_bytes").option == "--max-param-bytes"


def test_check_has_one_option_per_budgetable_metric() -> None:
    from convprof.commands.check import check

    command = check
    options = {opt for param in command.params for opt in param.opts if opt.startswith("--max-")}
    assert options == {m.option for m in METRICS.values() if m.budget} | {"--max-growth"}
    result = CliRunner().invoke(cli, ["check", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "--max-param-bytes N" in result.output
    assert "--max-training-latency DEVICE=MS" in result.output


def test_a_metric_added_to_the_registry_is_budgeted_grown_checked_and_diffed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One declaration is all a new metric needs: a spec may budget it, --max-growth name it, the gate
    checks it and diff compares it."""

    def weights_and_buffers(variant: VariantReport) -> int:
        return variant.param_bytes + variant.buffer_bytes

    added = Metric(
        "state_bytes", "State", "State", "bytes", "Weights and buffers.", "1KiB", derive=weights_and_buffers
    )
    monkeypatch.setitem(METRICS, added.key, added)
    spec = _linear(5, "budgets:\n  state_bytes: 2KiB\n")
    assert spec.budgets == Budgets.of({"state_bytes": 2048})
    assert [a.metric for a in parse_growth("state_bytes=5%")] == ["state_bytes"]
    report = analyze(spec)
    # 505 float32 parameters and no buffers: 2,020 bytes, within 2 KiB.
    assert metric_values(report)["state_bytes"] == 505 * 4
    [check] = check_limits("fc", spec.budgets, report)
    assert (check.metric, check.limit, check.actual, check.passed) == ("state_bytes", 2048, 2020, True)
    wider = analyze(_linear(6))
    [change] = [m for m in diff_reports(report, wider).variant("conv").metrics if m.metric == "state_bytes"]
    assert (change.old, change.new) == (2020, 101 * 6 * 4)
    with pytest.raises(SpecError, match=r"budgets.state_bytes: "):
        _linear(5, "budgets:\n  state_bytes: 2 apples\n")


def test_unknown_budget_lists_every_budgetable_metric_in_registry_order() -> None:
    with pytest.raises(SpecError) as caught:
        _linear(5, "budgets:\n  weights: 1k\n")
    listed = str(caught.value).rpartition("budgets take ")[2].split(", ")
    assert listed == [m.key for m in METRICS.values() if m.budget]


@pytest.mark.parametrize(("key", "example"), [("macs", "1G"), ("activation_bytes", "64MB")])
def test_a_malformed_budget_names_its_metrics_own_example(key: str, example: str) -> None:
    with pytest.raises(SpecError, match=rf"expected a {key} limit such as {example}, got a list"):
        _linear(5, f"budgets:\n  {key}: [1]\n")


def _gate(budgets: dict[str, int | float]) -> CheckResults:
    return run_gate([_lenet5()], GateOptions(Budgets.of(budgets)), lambda line: None)


def test_the_gate_fails_lenet5_one_parameter_under_its_count() -> None:
    results = _gate({"params": LENET5_PARAMS - 1, "macs": LENET5_MACS})
    [params, macs] = results.checks
    assert (params.metric, params.actual, params.passed) == ("params", 61_706, False)
    assert (macs.metric, macs.actual, macs.passed) == ("macs", LENET5_MACS, True)
    said: list[str] = []
    with pytest.raises(
        BudgetExceeded, match=r"^1 check failed: lenet5: params 61,706 exceeds its limit 61,705$"
    ):
        results.verdict(False, said.append)
    assert BudgetExceeded.exit_code == 1
    jsonschema.validate(json.loads(checks_json(results.checks, results.unchecked)), check_schema())
    assert json.loads(checks_json(results.checks, results.unchecked)) == results.to_dict()


def test_the_gate_passes_lenet5_at_its_count_and_reports_what_it_analysed() -> None:
    results = _gate({"params": LENET5_PARAMS})
    results.verdict(True, pytest.fail)
    [(name, report)] = results.reports
    assert name == "lenet5"
    assert isinstance(report, Report)
    assert report.variant("conv").params == LENET5_PARAMS


def test_the_gate_says_what_it_checked_nothing_for() -> None:
    results = _gate({})
    assert (results.checks, results.unchecked) == ((), ("lenet5",))
    said: list[str] = []
    results.refuse_unchecked(False, said.append)
    assert said == [
        "convprof: warning: lenet5: no budgets set, NOTHING CHECKED; add `budgets:` or --max-* options "
        "(--require-budgets makes this exit 2)"
    ]
    with pytest.raises(UsageError, match=r"^--require-budgets: lenet5 sets no budgets"):
        results.refuse_unchecked(True, said.append)


def test_sweep_points_schema_lists_the_registrys_figures() -> None:
    variant = sweep_schema()["properties"]["points"]["items"]["properties"]["variants"]["properties"]["conv"]
    assert variant["required"] == [figure.key for figure in POINT_FIGURES]
    for figure in POINT_FIGURES:
        assert variant["properties"][figure.key] == {"type": "integer", "minimum": 0}


def test_the_registry_module_imports_nothing_above_the_base() -> None:
    tree = ast.parse(Path(metrics.__file__).read_text(encoding="utf-8"))
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("convprof")
    }
    assert imported == {"convprof.quantity"}
