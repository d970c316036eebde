"""Budgets as a spec's `budgets:` mapping and `check`'s --max-* options write them, read into Budgets.

Which budgets there are, and how each limit is written, comes from the metric registry.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from convprof.errors import SpecError, UsageError
from convprof.metrics import LATENCY_DEVICES, Metric, budget_keys, budget_metrics, measured_metrics, metric
from convprof.quantity import parse_milliseconds
from convprof.spec import Budgets, yamlnode
from convprof.spec.args import describe
from convprof.units import clip

__all__ = ["option_budgets", "parse_budgets", "parse_latency_option", "suggest"]


def suggest(word: str, options: Iterable[str]) -> str:
    """Return ` (did you mean X?)` for the closest of `options`, or nothing when none is close."""
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def _scalar_text(node: yamlnode.Node, path: str, expected: str) -> str:
    if not isinstance(node, yamlnode.Scalar) or node.tag not in ("int", "float", "str"):
        raise SpecError(f"expected {expected}, got {describe(node)}", path, node.line, node.column)
    if node.tag == "int":
        assert isinstance(node.value, int)
        if node.value < 0:
            raise SpecError(f"expected {expected}, got {node.text}", path, node.line, node.column)
        return str(node.value)  # YAML reads 1_000 and 0x10 as integers; keep its reading
    return node.text


def _device_limits(node: yamlnode.Node, path: str, measured: Metric) -> dict[str, float]:
    key = measured.key
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
            hint = suggest(device, LATENCY_DEVICES) or f"; use {' or '.join(LATENCY_DEVICES)}"
            raise SpecError(f"unknown device {clip(device)}{hint}", path, key_node.line, key_node.column)
        text = _scalar_text(value_node, path, "milliseconds such as 5 or 0.5")
        try:
            limits[f"{key}.{device}"] = measured.parse_limit(text)
        except ValueError as exc:
            raise SpecError(f"{key}.{device}: {exc}", path, value_node.line, value_node.column) from None
    return limits


def parse_budgets(node: yamlnode.Node, path: str) -> Budgets:
    """Return the Budgets a spec's `budgets:` mapping sets; SpecError names line and column."""
    if not isinstance(node, yamlnode.Mapping):
        raise SpecError(
            f"budgets is a mapping such as {{params: 100k, macs: 1G}}, got {describe(node)}",
            path,
            node.line,
            node.column,
        )
    values: dict[str, int | float] = {}
    allowed = budget_keys()
    for key, (key_node, value_node) in node.items.items():
        if key not in allowed:
            hint = suggest(key, allowed) or f"; budgets take {', '.join(allowed)}"
            raise SpecError(f"unknown budget {clip(key)}{hint}", path, key_node.line, key_node.column)
        limited = metric(key)
        if limited.measured:
            values |= _device_limits(value_node, path, limited)
            continue
        text = _scalar_text(value_node, path, f"a {key} limit such as {limited.example}")
        try:
            values[key] = limited.parse_limit(text)
        except ValueError as exc:
            raise SpecError(f"budgets.{key}: {exc}", path, value_node.line, value_node.column) from None
    return Budgets.of(values)


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


def option_budgets(limits: Mapping[str, str | None], times: Mapping[str, tuple[str, ...]]) -> Budgets:
    """Return the Budgets `check`'s options set: a size limit by metric key (`params`: `100k`, None
    when not given) and the DEVICE=MS items given for each measured time (`latency_ms`)."""
    values: dict[str, int | float] = {}
    for limited in budget_metrics():
        text = limits.get(limited.key)
        if text is None:
            continue
        try:
            values[limited.key] = limited.parse_limit(text)
        except ValueError as exc:
            raise UsageError(f"{limited.option} {clip(text)}: {exc}") from None
    for measured in measured_metrics():
        for item in times.get(measured.key, ()):
            device, limit = parse_latency_option(item, measured.option)
            values[f"{measured.key}.{device}"] = limit
    return Budgets.of(values)
