"""Every class of bad input ends in exit code 2 and one located line on stderr, never a traceback."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from convprof.cli import cli
from tests.processes import CONVPROF

ALIAS_BOMB = (
    "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(
        f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]\n"
        for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "input: [3, 8, 8]\nlayers: *i\n"
)

# (file content, expected "line:column", a phrase the message must contain)
BAD_SPECS: dict[str, tuple[bytes, str, str]] = {
    "yaml-syntax": (b"input: [3, 32, 32\nlayers: []\n", "2:7", "invalid YAML"),
    "empty": (b"", "1:1", "the file is empty"),
    "only-comments": (b"# nothing here\n", "1:1", "the file is empty"),
    "not-a-mapping": (b"- conv2d\n", "1:1", "a spec is a mapping"),
    "scalar-document": (b"just text\n", "1:1", "a spec is a mapping"),
    "missing-input": (b"layers:\n  - relu\n", "1:1", "missing `input`"),
    "missing-layers": (b"input: [3, 8, 8]\n", "1:1", "missing `layers`"),
    "empty-layers": (b"input: [3, 8, 8]\nlayers: []\n", "2:9", "`layers` is empty; list at least one layer"),
    "layers-not-a-list": (b"input: [3, 8, 8]\nlayers: relu\n", "2:9", "`layers` must be a list of layers"),
    "tab-indent": (
        b"input: [3, 8, 8]\nlayers:\n\t- relu\n",
        "3:1",
        "tab at column 1; tabs are not allowed for indentation in YAML, indent with spaces",
    ),
    "tab-in-nested-indent": (
        b"input: [3, 8, 8]\nlayers:\n  - conv2d:\n  \t  out_channels: 4\n",
        "4:3",
        "tab at column 3; tabs are not allowed for indentation in YAML",
    ),
    "tab-after-dash": (
        b"input: [3, 8, 8]\nlayers:\n  - relu\n  -\tflatten\n",
        "4:4",
        "tab at column 4; tabs are not allowed for indentation in YAML",
    ),
    "unknown-top-key": (b"input: [3, 8, 8]\nlayres:\n  - relu\n", "2:1", "did you mean layers?"),
    "unknown-kind": (
        b"input: [3, 8, 8]\nlayers:\n  - conv2x: {out_channels: 4}\n",
        "3:5",
        "unknown layer kind 'conv2x' (did you mean conv2d?)",
    ),
    "unknown-argument": (
        b"input: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: 4, kernal_size: 3}\n",
        "3:31",
        "unknown argument 'kernal_size' for conv2d (did you mean kernel_size?)",
    ),
    "inferred-argument": (
        b"input: [3, 8, 8]\nlayers:\n  - conv2d: {in_channels: 3, out_channels: 4, kernel_size: 3}\n",
        "3:14",
        "in_channels is inferred from the previous layer; remove it",
    ),
    "missing-argument": (
        b"input: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: 4}\n",
        "3:5",
        "needs kernel_size",
    ),
    "string-for-int": (
        b"input: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: '4', kernel_size: 3}\n",
        "3:28",
        "out_channels: expected a positive integer (remove the quotes)",
    ),
    "float-for-int": (
        b"input: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: 4.5, kernel_size: 3}\n",
        "3:28",
        "got float 4.5",
    ),
    "bool-for-int": (
        b"input: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: true, kernel_size: 3}\n",
        "3:28",
        "got bool true",
    ),
    "int-for-bool": (
        b"input: [3, 8, 8]\nlayers:\n  - linear: {out_features: 4, bias: 1}\n",
        "3:37",
        "bias: expected true or false",
    ),
    "zero-size": (b"input: [3, 0, 8]\nlayers:\n  - relu\n", "1:12", "input: expected a positive integer"),
    "negative-size": (
        b"input: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: -4, kernel_size: 3}\n",
        "3:28",
        "got int -4",
    ),
    "bad-pair": (
        b"input: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: [3, 3, 3]}\n",
        "3:44",
        "[height, width] pair",
    ),
    "bad-padding-word": (
        b"input: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 3, padding: full}\n",
        "3:56",
        "'same' or 'valid'",
    ),
    "groups-not-dividing": (
        b"input: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 3, groups: 2}\n",
        "3:5",
        "groups=2 does not divide the 3 input channels",
    ),
    "kernel-larger-than-input": (
        b"input: [3, 8, 8]\nlayers:\n  - relu\n  - relu\n  - relu\n  - relu\n"
        b"  - conv2d: {out_channels: 4, kernel_size: 9}\n",
        "7:5",
        "layers.4 conv2d: kernel 9x9 is larger than its 8x8 padded input",
    ),
    "shape-collapses": (
        b"input: [3, 6, 6]\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 3}\n"
        b"  - maxpool2d: {kernel_size: 2}\n  - maxpool2d: {kernel_size: 3}\n",
        "5:5",
        "layers.2 maxpool2d: window 3x3 does not fit its 2x2 padded input",
    ),
    "pool-padding-too-large": (
        b"input: [3, 8, 8]\nlayers:\n  - maxpool2d: {kernel_size: 2, padding: 2}\n",
        "3:5",
        "more than half the kernel size",
    ),
    "conv-needs-image": (
        b"input: [10]\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 3}\n",
        "3:5",
        "needs a channels x height x width input, got 10",
    ),
    "duplicate-key": (
        b"input: [3, 8, 8]\ninput: [3, 8, 8]\nlayers:\n  - relu\n",
        "2:1",
        "duplicate key 'input'",
    ),
    "duplicate-argument": (
        b"input: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: 4, out_channels: 5, kernel_size: 3}\n",
        "3:31",
        "duplicate key 'out_channels'",
    ),
    "duplicate-layer-name": (
        b"input: [3, 8, 8]\nlayers:\n  - relu: {name: a}\n  - relu: {name: a}\n",
        "4:5",
        "layers.1: name 'a' is already used by layers.0",
    ),
    "two-keys-in-a-layer": (
        b"input: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 3}\n    name: x\n",
        "3:5",
        "one-key mapping",
    ),
    "non-utf8": (b"input: [3, 8, 8]\nname: caf\xe9\nlayers:\n  - relu\n", "2:10", "not valid UTF-8"),
    "python-tag": (
        b"input: [3, 8, 8]\nlayers: !!python/object/apply:os.system [ls]\n",
        "2:9",
        "only plain YAML is accepted",
    ),
    "bad-dtype": (b"input: [3, 8, 8]\ndtype: int8\nlayers:\n  - relu\n", "2:8", "dtype: expected one of"),
    "two-documents": (b"input: [3, 8, 8]\nlayers: [relu]\n---\ninput: [1]\n", "3:1", "invalid YAML"),
    "alias-bomb": (ALIAS_BOMB.encode(), "1:1", "expands to more than"),
    "recursive-alias": (b"input: [3, 8, 8]\nlayers: &a [relu, *a]\n", "2:9", "recursive alias"),
    "deep-nesting": (b"input: [3, 8, 8]\nlayers: " + b"[" * 200 + b"]" * 200 + b"\n", "", "nested deeper"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_is_one_located_line_and_exit_2(case: str, tmp_path: Path) -> None:
    content, position, phrase = BAD_SPECS[case]
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(content)
    result = CliRunner().invoke(cli, ["compare", str(spec), "--no-latency"])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"convprof: error: {spec}:{position}"), lines[0]
    assert phrase in lines[0]
    assert "Traceback" not in result.stderr


def test_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    """The bound is checked on the node graph before anything is expanded."""
    spec = tmp_path / "bomb.yaml"
    spec.write_text(ALIAS_BOMB)
    start = time.perf_counter()
    result = CliRunner().invoke(cli, ["compare", str(spec), "--no-latency"])
    assert result.exit_code == 2
    # Not a timing assertion on the code's speed: a hang would take minutes; the bound is generous.
    assert time.perf_counter() - start < 30


def test_aliases_and_merge_keys_within_bounds_are_accepted(tmp_path: Path) -> None:
    spec = tmp_path / "anchors.yaml"
    spec.write_text(
        "conv: &conv {out_channels: 8, kernel_size: 3, padding: 1}\n"
        "input: [3, 8, 8]\n"
        "layers:\n  - conv2d: *conv\n  - conv2d: {<<: *conv, out_channels: 4}\n"
    )
    result = CliRunner().invoke(cli, ["compare", str(spec), "--no-latency", "--format", "json"])
    # `conv` is not a spec key: anchors must live inside the keys a spec has.
    assert result.exit_code == 2
    assert "unknown top-level key 'conv'" in result.stderr
    spec.write_text(
        "input: [3, 8, 8]\n"
        "layers:\n  - conv2d: &conv {out_channels: 8, kernel_size: 3, padding: 1}\n"
        "  - conv2d: {<<: *conv, out_channels: 4, name: second}\n"
    )
    result = CliRunner().invoke(cli, ["compare", str(spec), "--no-latency", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert '"path": "second"' in result.stdout


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["compare", "no_such_model"], "no such file or built-in example"),
        (["compare", "vgg61"], "did you mean vgg16?"),
        (["compare", "."], "is a directory"),
        (["compare", "lenet5", "--format", "xml"], "Invalid value for '--format'"),
        (["compare", "lenet5", "--batch-size", "0"], "Invalid value for '--batch-size'"),
    ],
)
def test_usage_errors_exit_2(args: list[str], phrase: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert phrase in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_output_is_a_clear_error_and_nothing_is_written(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "report.json"
    result = CliRunner().invoke(
        cli, ["compare", "lenet5", "--no-latency", "--format", "json", "-o", str(missing)]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert not missing.parent.exists()


def test_real_process_exit_codes_and_stderr(tmp_path: Path) -> None:
    spec = tmp_path / "bad spec é.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers:\n  - conv2x: {out_channels: 4}\n", encoding="utf-8")
    process = subprocess.run(
        [*CONVPROF, "compare", str(spec), "--no-latency"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert process.returncode == 2
    assert process.stdout == ""
    assert (
        process.stderr == f"convprof: error: {spec}:3:5: unknown layer kind 'conv2x' (did you mean conv2d?)\n"
    )
    ok = subprocess.run(
        [*CONVPROF, "compare", "why_convolutions", "--no-latency", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0
    assert ok.stderr == ""


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["diff"], "convprof: error: Missing argument 'OLD'; see `convprof diff --help`"),
        (
            ["compare", "lenet5", "--preset", "fast"],
            "convprof: error: Invalid value for '--preset': 'fast' is not one of 'quick', 'default', "
            "'rigorous'; see `convprof compare --help`",
        ),
        (["frobnicate"], "convprof: error: No such command 'frobnicate'; see `convprof --help`"),
    ],
)
def test_a_bad_command_line_is_one_line_in_a_real_process(args: list[str], line: str) -> None:
    process = subprocess.run(
        [*CONVPROF, *args],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert process.returncode == 2
    assert process.stderr == line + "\n"
    assert process.stdout == ""
