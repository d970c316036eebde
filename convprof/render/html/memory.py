"""The memory over time on `compare --format html`'s page: the live activations of each variant as
its layers run, and a training step's moments with every tensor held at its peak."""

from __future__ import annotations

from collections.abc import Sequence

from convprof.graph.variants import VARIANTS
from convprof.render.common import marked
from convprof.render.html.charts import Marker, Series, full, legend, line_chart
from convprof.render.html.page import attrs, esc, section, table
from convprof.render.latency import format_error
from convprof.render.plot import VARIANT_COLORS
from convprof.report import RESIDENT_ROLES, HeldTensor, LayerReport, Report, VariantReport
from convprof.report.results import StepMemory
from convprof.units import format_bytes

__all__ = ["memory_section"]

#: How the page names what a training step holds, and its colour in the peak's composition.
_ROLES = {
    "weights": ("weights", "#4e79a7"),
    "buffers": ("buffers", "#9c755f"),
    "optimizer_state": ("optimizer state", "#b07aa1"),
    "input": ("network input", "#bab0ac"),
    "activation": ("layer output", "#59a14f"),
    "saved": ("kept for the backward", "#8cd17d"),
    "gradient": ("gradient of an output", "#f28e2b"),
    "weight_gradient": ("weights' gradient", "#e15759"),
    "workspace": ("temporaries", "#76b7b2"),
}
#: The three phases of a training step, shaded behind its chart.
_PHASES = (("forward", "#eef5ee"), ("backward", "#fbf1e6"), ("optimizer", "#f1ecf6"))
#: Rows of the held-at-peak table shown before the rest fold away.
_HELD_SHOWN = 12


def _inference_memory(report: Report) -> str:
    layers = report.variant("conv").layers
    if not layers or any(layer.live_bytes is None for v in report.variants for layer in v.layers):
        return ""
    looks = {"dense": (1.6, 1.0), "local": (4.0, 0.45), "conv": (1.4, 1.0)}
    series = [
        Series(
            name,
            VARIANT_COLORS[name],
            tuple(layer.live_bytes for layer in report.variant(name).layers),
            *looks[name],
        )
        for name in VARIANTS
    ]
    markers = []
    for name in VARIANTS:
        variant = report.variant(name)
        at = next(i for i, layer in enumerate(variant.layers) if layer.live_bytes == variant.activation_bytes)
        markers.append(
            Marker(
                f"{name} peak {format_bytes(variant.activation_bytes)} at {variant.layers[at].path}",
                variant.activation_bytes,
                at,
                VARIANT_COLORS[name],
                f"peak-{name}",
            )
        )
    tips = [
        f"#{i} {layer.path}: "
        + ", ".join(
            f"{name} {format_bytes(report.variant(name).layers[i].live_bytes or 0)}" for name in VARIANTS
        )
        for i, layer in enumerate(layers)
    ]
    chart = line_chart(
        series,
        points=len(layers),
        tips=tips,
        unit="bytes",
        markers=markers[-1:],
        label="live activation bytes at each layer, at inference",
        x_label="layers in the order they run",
    )
    text = (
        "Activations alive while each layer makes its output (its output and every tensor still to be "
        "read, the input included), by liveness; the largest is the peak of the summary. The variants "
        "change the layers, not the tensors between them, so their lines lie on one another."
    )
    peaks = "; ".join(marker.label for marker in markers) + "."
    return (
        f'<h3>Inference</h3><p class="muted">{esc(text)}</p>'
        + legend([(name, VARIANT_COLORS[name]) for name in VARIANTS])
        + f'<div class="chart short" id="live">{chart}</div><p>{esc(peaks)}</p>'
    )


def _moments(variant: VariantReport) -> list[tuple[str, LayerReport | None, int]]:
    """A training step's moments in the order they happen: each layer's forward, each backward that
    runs (last layer first), the optimizer's step."""
    forward = [("forward", layer, layer.step_forward_bytes or 0) for layer in variant.layers]
    backward = [
        ("backward", layer, layer.step_backward_bytes)
        for layer in reversed(variant.layers)
        if layer.step_backward_bytes is not None
    ]
    return [*forward, *backward, ("optimizer", None, variant.step_optimizer_bytes or 0)]


def _step_chart(report: Report, variant: VariantReport) -> str:
    peak = variant.training_peak
    if peak is None:
        return ""
    moments = _moments(variant)
    bands = []
    start = 0
    for phase, colour in _PHASES:
        count = sum(1 for moment in moments if moment[0] == phase)
        if count:
            bands.append((start, start + count - 1, phase, colour))
        start += count
    at = next(
        i
        for i, (phase, layer, _value) in enumerate(moments)
        if phase == peak.phase and (layer.path if layer else None) == peak.layer
    )
    where = "the optimizer's step" if peak.layer is None else f"the {peak.phase} of {peak.layer}"
    markers = [
        Marker(
            f"peak {marked(variant, 'training_bytes')} in {where}",
            variant.training_bytes,
            at,
            "#1d232a",
            "training-peak",
        )
    ]
    for result in variant.training_latency or ():
        if isinstance(result.memory, StepMemory):
            memory = result.memory
            markers.append(
                Marker(
                    f"measured on {result.device}: {format_bytes(memory.peak_bytes)} (model for "
                    f"{result.device}: {format_bytes(memory.estimate_bytes)}, {format_error(memory)})",
                    memory.peak_bytes,
                    None,
                    "#2457a6",
                    f"measured-{result.device}",
                )
            )
    tips = [
        f"{phase} of {layer.path}: {format_bytes(value)}"
        if layer
        else f"optimizer's step: {format_bytes(value)}"
        for phase, layer, value in moments
    ]
    series = [Series(variant.name, VARIANT_COLORS[variant.name], tuple(v for _, _, v in moments))]
    resident = sum(tensor.bytes for tensor in peak.tensors if tensor.role in RESIDENT_ROLES)
    held = ", ".join(_ROLES[t.role][0] for t in peak.tensors if t.role in RESIDENT_ROLES)
    return line_chart(
        series,
        points=len(moments),
        tips=tips,
        unit="bytes",
        markers=markers,
        bands=bands,
        floor=(resident, f"held throughout ({held}): {format_bytes(resident)}"),
        height=210,
        label=f"memory of a training step of the {variant.name} variant over time",
        x_label="moments of one step: each layer's forward, each backward (last layer first), the optimizer",
    )


def _held(variant: VariantReport, tensors: Sequence[HeldTensor]) -> str:
    """The composition of the peak by role (a stacked bar) and its tensors, largest first."""
    total = variant.training_bytes or 1
    by_role: dict[str, int] = {}
    for tensor in tensors:
        by_role[tensor.role] = by_role.get(tensor.role, 0) + tensor.bytes
    width = 1000
    x = 0.0
    stack = [f'<svg width="{width}" height="22" role="img" aria-label="what the peak holds">']
    for role, nbytes in by_role.items():
        share = nbytes / total * width
        name, colour = _ROLES[role]
        tip = f"{name}: {full(nbytes, 'bytes')} ({nbytes / total:.1%} of the peak)"
        stack.append(
            f'<rect x="{x:.1f}" y="2" width="{max(share, 0.5):.1f}" height="18" fill="{colour}"'
            f"{attrs(data_role=role, data_value=nbytes, data_tip=tip)}/>"
        )
        x += share
    stack.append("</svg>")
    key = legend(
        [(f"{_ROLES[role][0]} {format_bytes(nbytes)}", _ROLES[role][1]) for role, nbytes in by_role.items()]
    )
    ordered = sorted(tensors, key=lambda tensor: -tensor.bytes)
    headers = ["What", "Layer", "Bytes", "Share of the peak"]

    def row(tensor: HeldTensor) -> str:
        share = f"{tensor.bytes / total:.1%}"
        data = attrs(
            data_role=tensor.role,
            data_layer=tensor.layer,
            data_value=tensor.bytes,
        )
        return (
            f"<tr{data}><td>{esc(_ROLES[tensor.role][0])}</td><td>{esc(tensor.layer or '')}</td>"
            f'<td class="num">{esc(format_bytes(tensor.bytes))}</td><td class="num">{esc(share)}</td></tr>'
        )

    shown = table(headers, [row(t) for t in ordered[:_HELD_SHOWN]], right_from=2, class_="held")
    rest = ordered[_HELD_SHOWN:]
    more = (
        f"<details><summary>{len(rest):,} more tensors</summary>"
        + table(headers, [row(t) for t in rest], right_from=2, class_="held")
        + "</details>"
        if rest
        else ""
    )
    return "\n".join(stack) + key + shown + more


def _training_memory(report: Report) -> str:
    if any(variant.training_peak is None for variant in report.variants):
        return ""
    parts = [
        "<h3>Training step</h3>",
        f'<p class="muted">{esc(_STEP_TEXT.format(optimizer=report.optimizer))}</p>',
    ]
    for name in ("conv", "local", "dense"):
        variant = report.variant(name)
        peak = variant.training_peak
        assert peak is not None
        chart = _step_chart(report, variant)
        heading = f"{name}: peak {marked(variant, 'training_bytes')}"
        body = f'<div class="chart short">{chart}</div>' + _held(variant, peak.tensors)
        open_ = " open" if name == "conv" else ""
        parts.append(
            f'<details{open_} class="step" data-variant="{name}"><summary class="variant-{name}">'
            f"{esc(heading)}</summary>{body}</details>"
        )
    return "\n".join(parts)


_STEP_TEXT = (
    "What one training step ({optimizer}) holds as it runs, as the model counts it: the weights, "
    "buffers, optimizer state and input throughout, plus at each moment the outputs still to be read, "
    "what autograd keeps for the backward, the gradients made so far and the running layer's "
    "temporaries. The peak is marked, with every tensor held there; where the step was measured, its "
    "measured peak is the dashed line."
)


def memory_section(report: Report) -> str:
    """The page's section of memory over time: live activations of each variant, and a training
    step's moments with what is held at its peak."""
    body = _inference_memory(report) + _training_memory(report)
    if not body:
        body = '<p class="muted">This report carries no memory over time (a report of schema 3).</p>'
    return section("memory", "Memory over time", body)
