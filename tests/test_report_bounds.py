"""What a report may hold is bounded, and a report whose figures contradict its layers is refused.

`diff`, `merge` and `check --baseline` read reports other people wrote (CI artifacts): each case is
refused in one line naming the file, and where the place is known its line and column, with exit 2;
none reaches an internal error, and none is believed.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from convprof.cli import cli
from convprof.commands.sources import load_spec
from convprof.graph.analyze import analyze
from convprof.render.machine import to_json
from convprof.report.jsoncheck import MAX_STRING_CHARS
from convprof.report.reportfile import MAX_REPORT_BYTES, MAX_REPORT_VALUES
from convprof.report.schema import MAX_MS, MAX_SAMPLES
from convprof.spec import MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_NODES
from tests.reports import environment, measured
from tests.specbuild import spec_text


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    """A lenet5 report measured on the CPU (samples made up, as a machine would record them)."""
    medians = {v: {"cpu": 1.0 + i} for i, v in enumerate(("dense", "local", "conv"))}
    made = measured(analyze(load_spec("lenet5"), "adam"), medians, environment("CPU", 1, "2.13.0"))
    data: dict[str, Any] = json.loads(to_json(made))
    return data


def _commands(good: Path, bad: Path) -> list[list[str]]:
    return [
        ["diff", str(good), str(bad)],
        ["merge", str(good), str(bad)],
        ["check", "lenet5", "--baseline", str(bad), "--max-growth", "params=0%"],
    ]


def _refused_everywhere(tmp_path: Path, report: dict[str, Any], bad_text: str, *phrases: str) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(report), encoding="utf-8")
    bad.write_text(bad_text, encoding="utf-8")
    for args in _commands(good, bad):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"convprof: error: {bad}"), line
        for phrase in phrases:
            assert phrase in line, (args, line)


def _edited(report: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> str:
    data = copy.deepcopy(report)
    edit(data)
    return json.dumps(data)


def _conv(data: dict[str, Any]) -> dict[str, Any]:
    variant: dict[str, Any] = data["variants"]["conv"]
    return variant


def _cpu(data: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = _conv(data)["latency"]["cpu"]
    return entry


# -- figures that contradict the layers ----------------------------------------------------------------

TAMPERED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "params-2**64": (
        lambda d: _conv(d).update(params=2**64),
        "variants.conv.params: 18446744073709551616, but the layers' params sum to 61706",
    ),
    "params-1e99": (lambda d: _conv(d).update(params=1e99), "variants.conv.params: expected an integer"),
    "macs": (
        lambda d: _conv(d).update(macs=1, flops=2, training_flops=2 + _conv(d)["backward_flops"]),
        "variants.conv.macs: 1, but the layers' macs sum to 416520",
    ),
    "param-bytes": (
        lambda d: _conv(d).update(param_bytes=1),
        "variants.conv.param_bytes: 1, but 61706 parameters take 246824 bytes",
    ),
    "no-layers": (
        lambda d: [v.update(layers=[]) for v in d["variants"].values()],
        f"variants.dense.layers: expected 1 to {MAX_NODES} items, got 0",
    ),
    "a-layer-missing": (
        lambda d: _conv(d)["layers"].pop(),
        "variants.conv.params: 61706, but the layers' params sum to 60856",
    ),
    "layers-of-another-graph": (
        lambda d: _conv(d)["layers"][3].update(path="renamed"),
        'variants.conv.layers[3]: layer "renamed" differs from the dense variant\'s "c3"',
    ),
    "index": (
        lambda d: _conv(d)["layers"][2].update(index=7),
        "variants.conv.layers[2].index: 7, but the layer is at 2",
    ),
    "output-bytes": (
        lambda d: _conv(d)["layers"][0].update(activation_bytes=1),
        "variants.conv.layers[0].activation_bytes: 1, but a 6x28x28 output of the batch takes 18816",
    ),
}


@pytest.mark.parametrize("case", TAMPERED, ids=TAMPERED.keys())
def test_figures_that_contradict_the_layers_are_refused(
    case: str, report: dict[str, Any], tmp_path: Path
) -> None:
    edit, phrase = TAMPERED[case]
    _refused_everywhere(tmp_path, report, _edited(report, edit), phrase)


# -- bounds on what a report holds ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [1e308, 1.7976931348623157e308, MAX_MS * 10])
def test_a_sample_past_any_real_time_is_refused(value: float, report: dict[str, Any], tmp_path: Path) -> None:
    # 1e308 ms summed with its neighbours overflowed a float: an internal error (exit 70) before.
    text = _edited(report, lambda d: _cpu(d).update(raw_ms=[value] * len(_cpu(d)["raw_ms"])))
    _refused_everywhere(tmp_path, report, text, "variants.conv.latency.cpu.raw_ms[0]", "<= 1e+09")


def test_more_samples_than_a_measurement_keeps_are_refused(report: dict[str, Any], tmp_path: Path) -> None:
    count = MAX_SAMPLES + 1
    text = _edited(report, lambda d: _cpu(d).update(raw_ms=[1.0] * count, raw_rounds=[0] * count))
    _refused_everywhere(
        tmp_path,
        report,
        text,
        "variants.conv.latency.cpu.raw_ms",
        f"expected 1 to {MAX_SAMPLES} items, got {count}",
    )


def test_more_values_than_a_report_holds_are_refused_unparsed(report: dict[str, Any], tmp_path: Path) -> None:
    # Every sample of a made-up measurement in one list: parsed, they would take memory without bound.
    samples = ",".join(["1.5"] * MAX_REPORT_VALUES)
    text = json.dumps(report).replace('"raw_ms": [', '"raw_ms": [' + samples + ",", 1)
    _refused_everywhere(tmp_path, report, text, f"holds more than {MAX_REPORT_VALUES:,} values")


def test_a_report_larger_than_the_limit_is_refused_unread(report: dict[str, Any], tmp_path: Path) -> None:
    good, big = tmp_path / "good.json", tmp_path / "big.json"
    good.write_text(json.dumps(report), encoding="utf-8")
    with big.open("wb") as handle:  # sparse: no disk, and nothing of it is read
        handle.truncate(MAX_REPORT_BYTES + 1)
    result = CliRunner().invoke(cli, ["diff", str(good), str(big)])
    assert result.exit_code == 2
    assert result.stderr == f"convprof: error: {big}: larger than 64 MiB; not a convprof report\n"
    assert os.stat(big).st_blocks == 0


def test_a_string_longer_than_any_report_holds_is_refused(report: dict[str, Any], tmp_path: Path) -> None:
    text = _edited(report, lambda d: d["spec"].update(description="x" * (MAX_STRING_CHARS + 1)))
    _refused_everywhere(tmp_path, report, text, "spec.description: a string of 1,048,577 characters")


def test_more_layers_than_a_spec_can_have_are_refused(report: dict[str, Any], tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        for variant in data["variants"].values():
            variant["layers"] = variant["layers"] * (MAX_NODES // len(variant["layers"]) + 1)

    text = _edited(report, edit)
    _refused_everywhere(tmp_path, report, text, "variants.dense.layers", f"to {MAX_NODES} items")


# -- the spec side of the bounds: what a spec may say fits in a report ----------------------------------


@pytest.mark.parametrize(
    ("top", "phrase"),
    [
        (
            {"name": "n" * (MAX_NAME_CHARS + 1)},
            f"name: 10,001 characters; a name has at most {MAX_NAME_CHARS:,}",
        ),
        (
            {"description": "d" * (MAX_DESCRIPTION_CHARS + 1)},
            f"description: 65,537 characters; a description has at most {MAX_DESCRIPTION_CHARS:,}",
        ),
    ],
    ids=["name", "description"],
)
def test_a_spec_says_nothing_a_report_could_not_hold(
    top: dict[str, str], phrase: str, tmp_path: Path
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(spec_text((3, 8, 8), ["relu"], **top), encoding="utf-8")
    result = CliRunner().invoke(cli, ["compare", str(path), "--no-latency"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"convprof: error: {path}:1:")
    assert result.stderr.endswith(f": {phrase}\n")
    assert result.stderr.count("\n") == 1


def test_the_longest_name_and_description_read_back(tmp_path: Path) -> None:
    path, saved = tmp_path / "spec.yaml", tmp_path / "report.json"
    top = {"name": "n" * MAX_NAME_CHARS, "description": "d" * MAX_DESCRIPTION_CHARS}
    path.write_text(spec_text((3, 8, 8), [{"relu": {"name": "r" * MAX_NAME_CHARS}}], **top), encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["compare", str(path), "--no-latency", "--format", "json", "-o", str(saved)]
    )
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["diff", str(saved), str(saved)])
    assert result.exit_code == 0, result.output
