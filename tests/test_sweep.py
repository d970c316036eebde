"""convprof sweep: grid points, width rule, growth laws, errors and outputs."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from dataclasses import replace
from io import StringIO
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from convprof.cli import cli
from convprof.commands.sources import load_spec, read_source
from convprof.render.sweep import render_sweep, sweep_to_csv, sweep_to_json, sweep_to_markdown
from convprof.report import Report
from convprof.report.analyze import analyze
from convprof.report.results import DeviceLatency
from convprof.report.stats import summarize
from convprof.sweep.axes import resolution_axis, set_axis, width_axis
from convprof.sweep.model import Sweep, build_sweep
from convprof.sweep.points import point_specs
from tests.processes import CONVPROF

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["sweep", *args])
    return result.exit_code, result.stdout, result.stderr


def sweep_of(spec: str, *axes_text: tuple[str, str]) -> Sweep:
    base = load_spec(spec)
    axes = []
    for kind, text in axes_text:
        if kind == "resolution":
            axes.append(resolution_axis(text, base.input))
        elif kind == "width":
            axes.append(width_axis(text))
        else:
            axes.append(set_axis(text))
    points = point_specs(read_source(spec), axes)
    return build_sweep(base, axes, [(p.labels, analyze(p.spec)) for p in points])


def test_why_convolutions_parameter_exponents() -> None:
    code, out, _ = run("why_convolutions", "--resolution", "16,32,64,128,256", "--format", "json")
    assert code == 0
    data = json.loads(out)
    exponents = {f["variant"]: f["exponent"] for f in data["fits"] if f["metric"] == "params"}
    assert exponents["dense"] == pytest.approx(4.0, abs=0.05)
    assert exponents["local"] == pytest.approx(2.0, abs=0.05)
    assert exponents["conv"] == pytest.approx(0.0, abs=0.05)
    assert data["points"][0]["input"] == [3, 16, 16]


def lenet_params(w: float) -> dict[str, float]:
    """LeNet-5's parameters at width w, written out layer by layer (widths that scale exactly)."""
    c1, c3, f5, f6 = 6 * w, 16 * w, 120 * w, 84 * w
    linear = (c3 * 25 * f5 + f5) + (f5 * f6 + f6) + (f6 * 10 + 10)
    return {
        "conv": (c1 * 25 + c1) + (c3 * c1 * 25 + c3) + linear,
        "local": (c1 * 784 * 25 + c1 * 784) + (c3 * 100 * c1 * 25 + c3 * 100) + linear,
        "dense": (1024 * c1 * 784 + c1 * 784) + (c1 * 196 * c3 * 100 + c3 * 100) + linear,
    }


def test_lenet_width_exponents_match_the_formulas() -> None:
    np = pytest.importorskip("numpy")
    widths = [0.5, 1.0, 2.0, 4.0]
    result = sweep_of("lenet5", ("width", "0.5,1,2,4"))
    for variant in ("dense", "local", "conv"):
        params = [lenet_params(w)[variant] for w in widths]
        assert [p.report.variant(variant).params for p in result.points] == params
        top = math.log(params[3] / params[2]) / math.log(4.0 / 2.0)
        slope = np.polyfit(np.log(widths), np.log(params), 1)[0]
        fit = result.fit("width", "params", variant)
        assert fit is not None
        assert fit.exponent == pytest.approx(top, rel=1e-9)
        assert fit.least_squares == pytest.approx(slope, rel=1e-9)
    # conv params of lenet are dominated by w^2 terms: the top slope is close to 2
    conv_fit = result.fit("width", "params", "conv")
    assert conv_fit is not None
    assert 1.9 < conv_fit.exponent < 2.0


def test_width_keeps_the_classes_and_the_input() -> None:
    result = sweep_of("lenet5", ("width", "0.25"))
    layers = result.points[0].report.variant("conv").layers
    assert layers[0].output_shape[0] == 2  # 6 x 0.25 = 1.5 rounds half up
    assert layers[-1].output_shape == (10,)
    assert result.points[0].report.spec.input == (1, 32, 32)


def test_width_keeps_depthwise_convolutions_depthwise() -> None:
    points = point_specs(read_source("mobilenet_v1"), [width_axis("0.5,0.3")])
    for point in points:
        for layer in point.spec.nodes:
            if layer.kind == "Conv2d" and layer.path.startswith("dw"):
                assert layer.args.groups == layer.input_shape[0] == layer.output_shape[0]
    first = points[0].spec.nodes[0]
    assert first.output_shape[0] == 16


def test_width_on_a_grouped_convolution(tmp_path: Path) -> None:
    spec = tmp_path / "grouped.yaml"
    spec.write_text(
        "input: [3, 16, 16]\n"
        "layers:\n"
        "  - conv2d: {out_channels: 12, kernel_size: 3}\n"
        "  - conv2d: {out_channels: 24, kernel_size: 3, groups: 4}\n",
        encoding="utf-8",
    )
    points = point_specs(read_source(str(spec)), [width_axis("0.5,0.25")])
    half, quarter = (p.spec.nodes[1] for p in points)
    assert (half.input_shape[0], half.args.out_channels, half.args.groups) == (6, 12, 2)
    assert (quarter.input_shape[0], quarter.args.out_channels, quarter.args.groups) == (3, 8, 1)


def test_set_sweeps_any_value_by_path() -> None:
    code, out, _ = run(
        "why_convolutions", "--set", "layers.0.conv2d.kernel_size=3,5,[3, 5]", "--format", "json"
    )
    assert code == 0, out
    data = json.loads(out)
    assert [p["variants"]["conv"]["params"] for p in data["points"]] == [
        6 * (27 + 1),
        6 * (75 + 1),
        6 * (45 + 1),
    ]
    assert data["axes"][0]["numbers"][2] == pytest.approx(math.sqrt(15))


def test_set_adds_an_argument_left_at_its_default() -> None:
    result = sweep_of("why_convolutions", ("set", "layers.0.conv2d.stride=1,2"))
    assert [p.report.variant("conv").layers[0].output_shape for p in result.points] == [
        (6, 28, 28),
        (6, 14, 14),
    ]


def test_grid_is_every_combination_last_axis_fastest() -> None:
    code, out, _ = run(
        "lenet5", "--resolution", "32,64", "--width", "1,2", "--batch-size", "1,4", "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    values = [tuple(p["values"].values()) for p in data["points"]]
    assert values[:3] == [("32", "1", "1"), ("32", "1", "4"), ("32", "2", "1")]
    assert len(values) == 8
    batch = {
        f["variant"]: f["exponent"]
        for f in data["fits"]
        if f["axis"] == "batch_size" and f["metric"] == "macs"
    }
    assert batch == {"dense": pytest.approx(1.0), "local": pytest.approx(1.0), "conv": pytest.approx(1.0)}


def test_resolution_accepts_whole_shapes() -> None:
    result = sweep_of("why_convolutions", ("resolution", "64x96,1x32x32"))
    assert [p.report.spec.input for p in result.points] == [(3, 64, 96), (1, 32, 32)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resolution", "abc"], "--resolution: 'abc' is not a size"),
        (["--resolution", "32,,64"], "--resolution: empty value"),
        (["--resolution", "32,32"], "--resolution: 32 is given twice"),
        (["--width", "-1"], "--width: '-1' is not a positive multiplier"),
        (["--batch-size", "0"], "--batch-size: '0' is not a positive integer"),
        (["--set", "kernel_size"], "--set expects PATH=V1,V2,..."),
        (
            ["--set", "layers.3.conv2d.kernel_size=3"],
            "layers has 1 items, so index 3 does not exist; use 0 to 0",
        ),
        (["--set", "layers.x.conv2d.kernel_size=3"], "must be an index from 0 to 0"),
        (["--set", "layers.0.conv.kernel_size=3"], "has no 'conv' (did you mean conv2d?)"),
        (
            ["--set", "layers.0.conv2d.kernal_size=3"],
            "unknown argument 'kernal_size' for conv2d (did you mean kernel_size?)",
        ),
        (
            ["--set", "layers.0.conv2d.kernel_size=3,-1"],
            "sweep point 2 of 2 (layers.0.conv2d.kernel_size=-1)",
        ),
        (["--set", "input=[3, 32"], "is not a YAML value"),
        (["--resolution", "32", "--set", "input.1=8"], "both change input; keep one of them"),
        ([], "give at least one axis"),
        (["--resolution", "2,32"], "sweep point 1 of 2 (resolution=2) is not a valid spec"),
    ],
)
def test_bad_axes_exit_2_naming_the_option(args: list[str], message: str) -> None:
    code, out, err = run("why_convolutions", *args)
    assert code == 2
    assert out == ""
    assert err.startswith("convprof: error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_invalid_point_in_a_real_process_names_point_and_fix() -> None:
    result = subprocess.run(
        [*CONVPROF, "sweep", "why_convolutions", "--resolution", "32,4"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    line = result.stderr.strip()
    assert line.startswith("convprof: error: sweep point 2 of 2 (resolution=4)")
    assert "kernel 5x5 is larger than its 4x4 padded input" in line
    assert "change or drop that value of --resolution" in line


def test_analytic_sweep_never_imports_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from convprof.cli import cli\n"
        "cli(['sweep', 'lenet5', '--resolution', '32,64', '--width', '1,2',"
        f" '-o', {str(tmp_path / 'o.txt')!r}], standalone_mode=False)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'numpy' not in sys.modules, 'numpy was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o.txt").read_text(encoding="utf-8").startswith("lenet5: sweep over")


def test_output_file_and_formats(tmp_path: Path) -> None:
    target = tmp_path / "sweep.csv"
    code, out, err = run("lenet5", "--width", "0.5,1", "--format", "csv", "-o", str(target))
    assert code == 0
    assert out == ""
    assert f"wrote {target}" in err
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",")[:4] == ["width", "dense_params", "local_params", "conv_params"]
    assert len(lines) == 3
    code, out, _ = run("lenet5", "--width", "0.5,1", "--format", "markdown")
    assert code == 0
    assert out.startswith("### lenet5: sweep over width (2)")
    assert "- Parameters: dense grow as width^" in out
    code, _, err = run("lenet5", "--width", "0.5,1", "-o", str(tmp_path / "missing" / "x.txt"))
    assert code == 2
    assert "does not exist" in err


def test_table_cells_agree_with_json() -> None:
    result = sweep_of("why_convolutions", ("resolution", "16,32"))
    data = json.loads(sweep_to_json(result))
    rows = sweep_to_csv(result).splitlines()[1:]
    for point, row in zip(data["points"], rows, strict=True):
        cells = row.split(",")
        assert int(cells[1]) == point["variants"]["dense"]["params"]
        assert int(cells[7]) == point["variants"]["dense"]["memory_bytes"]


def test_golden_table(golden) -> None:
    result = sweep_of("why_convolutions", ("resolution", "16,32,64,128,256"))
    buffer = StringIO()
    render_sweep(result, Console(file=buffer, width=100, no_color=True), chart=True)
    golden("sweep_why_convolutions.txt", buffer.getvalue())


def test_golden_json(golden) -> None:
    result = sweep_of("lenet5", ("resolution", "32,64"), ("width", "0.5,1"))
    golden("sweep_lenet5_grid.json", sweep_to_json(result))


def test_latency_is_measured_per_point() -> None:
    pytest.importorskip("convprof.measure")
    code, out, _ = run(
        "why_convolutions", "--resolution", "8,16", "--latency", "--preset", "quick", "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert [m["key"] for m in data["metrics"]][-1] == "latency_s"
    for point in data["points"]:
        for variant in point["variants"].values():
            assert variant["latency"]["cpu"]["median_ms"] > 0
            assert variant["skipped"] is None
    assert any(f["metric"] == "latency_s" and f["exponent"] is not None for f in data["fits"])


def test_points_too_large_to_measure_keep_analytic_figures(tmp_path: Path) -> None:
    pytest.importorskip("convprof.measure")
    pytest.importorskip("matplotlib")
    table, image = tmp_path / "sweep.txt", tmp_path / "sweep.png"
    args = ["why_convolutions", "--resolution", "8,16", "--latency", "--preset", "quick"]
    code, _, _ = run(*args, "--max-memory", "1MiB", "--plot", str(image), "-o", str(table))
    assert code == 0
    text = table.read_text(encoding="utf-8")
    row = next(line.strip() for line in text.splitlines() if line.strip().startswith("16 "))
    assert row.split()[1:3] == ["664", "k"]  # dense parameters: analytic figures stay
    assert "skipped" in row
    assert "Latency of dense at resolution=16 skipped:" in text
    # Whether measured local latency grows or shrinks between two tiny points is the machine's noise.
    assert re.search(r"Latency: dense has too few measured points, local (grow|shrink|stay)", text), text
    assert image.stat().st_size > 10_000


def test_each_variant_has_its_own_verb() -> None:
    """A larger kernel shrinks the dense layer (fewer outputs) while local and conv grow (bigger windows)."""
    result = CliRunner().invoke(
        cli,
        ["sweep", "why_convolutions", "--set", "layers.0.conv2d.kernel_size=3,5,7", "--format", "markdown"],
    )
    assert result.exit_code == 0, result.stderr
    axis = "layers.0.conv2d.kernel_size"
    pattern = (
        rf"Parameters: dense shrink as {re.escape(axis)}\^-[\d.]+, local grow as {re.escape(axis)}\^[\d.]+, "
        rf"conv grow as {re.escape(axis)}\^[\d.]+\."
    )
    assert re.search(pattern, result.stdout), result.stdout


def test_sweep_json_validates_against_its_schema() -> None:
    import jsonschema

    from convprof.render.schemas import sweep_schema

    result = CliRunner().invoke(
        cli, ["sweep", "lenet5", "--resolution", "32,64", "--width", "1,2", "--format", "json"]
    )
    data = json.loads(result.stdout)
    jsonschema.Draft202012Validator(sweep_schema()).validate(data)
    assert (data["schema_version"], data["kind"]) == (1, "sweep")


def _with_latency(report: Report, samples: dict[str, list[float]]) -> Report:
    """The report with each variant's CPU latency made of the given per-call samples, one round each."""
    variants = []
    for variant in report.variants:
        raw = samples[variant.name]
        stats = summarize(raw, list(range(len(raw))))
        variants.append(replace(variant, latency=(DeviceLatency("cpu", None, stats, calls_per_sample=1),)))
    return replace(report, variants=tuple(variants))


def test_an_unstable_latency_is_marked_in_every_sweep_output() -> None:
    base = load_spec("why_convolutions")
    axes = [resolution_axis("8,16", base.input)]
    points = point_specs(read_source("why_convolutions"), axes)
    steady = [1.0, 1.0, 1.0, 1.0, 1.0]
    scattered = [1.0, 1.0, 2.0, 3.0, 3.0]  # IQR 2 over a median of 2: 100%
    reports = [
        _with_latency(analyze(points[0].spec), {"dense": steady, "local": steady, "conv": steady}),
        _with_latency(analyze(points[1].spec), {"dense": scattered, "local": steady, "conv": steady}),
    ]
    result = build_sweep(
        base, axes, [(p.labels, r) for p, r in zip(points, reports, strict=True)], latency=True
    )
    console = Console(file=StringIO(), width=200)
    render_sweep(result, console, chart=False)
    table = console.file.getvalue()
    row = next(line for line in table.splitlines() if line.strip().startswith("16 "))
    assert "~2 ms" in row
    assert row.count("~") == 1
    row8 = next(line for line in table.splitlines() if line.strip().startswith("8 "))
    assert "~" not in row8
    assert "~ unstable: IQR/median above 10%" in table
    assert "| \\~2 ms |" in sweep_to_markdown(result)  # escaped: strikethrough in GitHub's Markdown
    csv_rows = sweep_to_csv(result).splitlines()
    header = csv_rows[0].split(",")
    last = csv_rows[2].split(",")
    assert last[header.index("dense_latency_stable")] == "false"
    assert last[header.index("conv_latency_stable")] == "true"


def exponents_of(path: Path, resolution: str, metric: str = "params") -> dict[str, float]:
    code, out, err = run(str(path), "--resolution", resolution, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    return {f["variant"]: f["exponent"] for f in data["fits"] if f["metric"] == metric}


def test_resolution_of_a_1d_input_is_its_length(tmp_path: Path) -> None:
    """A k-wide conv1d's dense parameters grow as length^2, its local ones as length, its own not at all."""
    spec = tmp_path / "audio.yaml"
    spec.write_text(
        "input: [1, 64]\nlayers:\n  - conv1d: {out_channels: 4, kernel_size: 3, padding: 1, bias: false}\n"
    )
    exponents = exponents_of(spec, "250,500,1000,2000")
    assert exponents == {"dense": pytest.approx(2.0), "local": pytest.approx(1.0), "conv": pytest.approx(0.0)}
    result = sweep_of(str(spec), ("resolution", "250,1x500"))
    assert [p.report.spec.input for p in result.points] == [(1, 250), (1, 500)]


def test_resolution_of_a_3d_input_is_frames_by_height_by_width(tmp_path: Path) -> None:
    """A padded conv3d's dense parameters grow as side^6 (volume squared), its local ones as side^3."""
    spec = tmp_path / "video.yaml"
    spec.write_text(
        "input: [3, 4, 8, 8]\nlayers:\n"
        "  - conv3d: {out_channels: 2, kernel_size: 3, padding: 1, bias: false}\n"
    )
    exponents = exponents_of(spec, "4,8,16")
    assert exponents == {"dense": pytest.approx(6.0), "local": pytest.approx(3.0), "conv": pytest.approx(0.0)}
    result = sweep_of(str(spec), ("resolution", "8,4x16x16,1x2x4x8"))
    assert [p.report.spec.input for p in result.points] == [(3, 8, 8, 8), (3, 4, 16, 16), (1, 2, 4, 8)]
    # A point sits at the side of the cube of equal volume.
    positions = [value.number for value in result.axes[0].values]
    assert positions == [pytest.approx(8.0), pytest.approx(1024 ** (1 / 3)), pytest.approx(4.0)]


@pytest.mark.parametrize(
    ("input_shape", "value", "message"),
    [
        (
            "[1, 64]",
            "8x32x32",
            "--resolution: '8x32x32' does not fit the spec's 1-D input 1x64; give lengths",
        ),
        (
            "[3, 4, 8, 8]",
            "8x8",
            "does not fit the spec's 3-D input 3x4x8x8; give sides such as 32,64, frames",
        ),
    ],
)
def test_resolution_of_the_wrong_rank_is_refused(
    tmp_path: Path, input_shape: str, value: str, message: str
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"input: {input_shape}\nlayers:\n  - relu\n")
    code, _, err = run(str(spec), "--resolution", value)
    assert code == 2
    assert message in err


@pytest.mark.parametrize(
    ("example", "resolution", "dense", "local"),
    [
        ("m5", "8000,16000,32000,64000,128000", 2.0, 1.0),
        ("r3d_18", "8x56x56,16x112x112,32x224x224,64x448x448", 6.0, 3.0),
    ],
)
def test_readme_sweeps_of_the_1d_and_3d_examples(
    example: str, resolution: str, dense: float, local: float
) -> None:
    """docs/sweep.md: M5's dense parameters grow as length^2, R3D-18's as side^6 (local: length, side^3)."""
    code, out, err = run(example, "--resolution", resolution, "--format", "json")
    assert code == 0, err
    exponents = {f["variant"]: f["exponent"] for f in json.loads(out)["fits"] if f["metric"] == "params"}
    assert exponents == {
        "dense": pytest.approx(dense, abs=0.005),
        "local": pytest.approx(local, abs=0.005),
        "conv": 0.0,
    }


def test_training_metrics_are_swept_with_their_growth_laws() -> None:
    import jsonschema

    from convprof.render.schemas import sweep_schema

    args = ("why_convolutions", "--resolution", "16,32,64", "--training")
    code, out, err = run(*args, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    jsonschema.Draft202012Validator(sweep_schema()).validate(data)
    keys = [m["key"] for m in data["metrics"]]
    assert keys == ["params", "macs", "memory_bytes", "training_flops", "training_bytes"]
    assert data["optimizer"] == "adam"
    for point, side in zip(data["points"], (16, 32, 64), strict=True):
        # One 5x5 conv on 3 channels to 6: MACs 6 x 75 x (r - 4)^2; its backward computes only the
        # weights' gradient (the input needs none), as many MACs; FLOPs are twice the MACs.
        assert point["variants"]["conv"]["training_flops"] == 4 * 6 * 75 * (side - 4) ** 2
    fits = {(f["metric"], f["variant"]): f for f in data["fits"]}
    assert fits["training_flops", "conv"]["exponent"] == pytest.approx(2 * math.log2(60 / 28), abs=1e-6)
    assert fits["training_bytes", "dense"]["exponent"] > 3.5  # dense weights grow as r^4
    csv_header = run(*args, "--format", "csv")[1].splitlines()[0].split(",")
    assert {"conv_training_flops", "dense_training_bytes"} <= set(csv_header)
    markdown = run(*args, "--format", "markdown")[1]
    assert "- Training FLOPs: dense grow as resolution^" in markdown
    assert "Training memory: its modelled peak" in markdown
    # Without --training, a sweep's JSON is as it was.
    plain = json.loads(run("why_convolutions", "--resolution", "16,32", "--format", "json")[1])
    assert "optimizer" not in plain
    assert "training_flops" not in plain["points"][0]["variants"]["conv"]


def test_a_training_sweep_without_latency_never_imports_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from convprof.cli import cli\n"
        "cli(['sweep', 'lenet5', '--resolution', '32,64', '--training',"
        f" '-o', {str(tmp_path / 'o.txt')!r}], standalone_mode=False)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "Training FLOPs: dense grow as" in (tmp_path / "o.txt").read_text(encoding="utf-8")


def test_the_training_step_is_measured_per_point(monkeypatch: pytest.MonkeyPatch) -> None:
    import jsonschema

    from convprof.measure.options import PRESETS, Preset
    from convprof.render.schemas import sweep_schema

    monkeypatch.setitem(PRESETS, "quick", Preset("quick", 0.001, 0.001, 2, 2, 0.05))
    args = ("why_convolutions", "--resolution", "8,16", "--training", "--latency", "--preset", "quick")
    code, out, err = run(*args, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    jsonschema.Draft202012Validator(sweep_schema()).validate(data)
    assert [m["key"] for m in data["metrics"]][-2:] == ["latency_s", "training_latency_s"]
    for point in data["points"]:
        for variant in point["variants"].values():
            assert variant["training_latency"]["cpu"]["median_ms"] > 0
            assert variant["training_latency"]["cpu"]["memory"]["method"] == "dispatch-tracking"
            assert variant["training_skipped"] is None
    assert any(f["metric"] == "training_latency_s" and f["exponent"] is not None for f in data["fits"])
    header, *rows = run(*args, "--format", "csv")[1].splitlines()
    columns = header.split(",")
    for name in ("conv_training_latency_s", "conv_training_latency_skipped", "conv_training_latency_stable"):
        assert name in columns
    assert all(float(row.split(",")[columns.index("conv_training_latency_s")]) > 0 for row in rows)
    table = run(*args, "--max-memory", "1MiB")[1]
    assert "Training step of dense at resolution=16 skipped: dense needs" in " ".join(table.split())
