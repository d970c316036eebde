"""Untrusted input: specs and reports that try to write elsewhere, hang, or crash convprof."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from convprof.errors import SpecError
from convprof.graph.build import build_model
from convprof.output import write_atomic
from convprof.report.analyze import analyze
from convprof.spec import yamlnode
from convprof.spec.yamlnode import load_nodes
from tests.processes import CONVPROF
from tests.specbuild import make_spec, spec_text

INT64_MAX = 9_223_372_036_854_775_807


def _run(*args: Any, cwd: Path | None = None) -> tuple[int, str, str]:
    process = subprocess.run(
        [*CONVPROF, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    return process.returncode, process.stdout, process.stderr


def _refused(code: int, stderr: str, *phrases: str) -> None:
    """Exit 2 with exactly one `convprof: error:` line containing every phrase."""
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("convprof: error: "), stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


def _files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


# -- check --write-reports: a spec's name never chooses a path -----------------------------------------


@pytest.mark.parametrize(
    ("name", "file"),
    [
        ("../../escaped", "_.._escaped.json"),
        ("/tmp/absolute", "_tmp_absolute.json"),
        ("..", "_.json"),
        ("résumé net", "r_sum__net.json"),
        ("n" * 5000, "n" * 100 + ".json"),
    ],
    ids=["traversal", "absolute", "dots", "non-ascii", "very-long"],
)
def test_write_reports_keeps_every_report_inside_the_directory(name: str, file: str, tmp_path: Path) -> None:
    work = tmp_path / "work" / "deeper"
    (work / "out").mkdir(parents=True)
    (work / "spec.yaml").write_text(spec_text((3, 8, 8), ["relu"], name=name), encoding="utf-8")
    code, _, stderr = _run("check", "spec.yaml", "--max-params", "1", "--write-reports", "out", cwd=work)
    assert code == 0, stderr
    assert _files(work / "out") == [file]
    assert json.loads((work / "out" / file).read_text(encoding="utf-8"))["spec"]["name"] == name
    assert _files(work) == ["out", "spec.yaml"]
    assert _files(tmp_path) == ["work"]
    assert _files(tmp_path / "work") == ["deeper"]


def test_write_reports_refuses_two_specs_sharing_a_file(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "a.yaml").write_text(spec_text((3, 8, 8), ["relu"], name="a/b"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(spec_text((3, 8, 8), ["relu"], name="a_b"), encoding="utf-8")
    code, stdout, stderr = _run(
        "check",
        tmp_path / "a.yaml",
        tmp_path / "b.yaml",
        "--max-params",
        "1",
        "--write-reports",
        tmp_path / "out",
    )
    _refused(code, stderr, "'a/b' and 'a_b' would both be written to a_b.json")
    assert stdout == ""
    assert _files(tmp_path / "out") == []


@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
def test_write_reports_never_writes_through_a_link(dangling: bool, tmp_path: Path) -> None:
    # A link planted where a spec's report goes (a pull request can hold one) names a file outside
    # the directory: it is replaced by the report, and what it pointed to is never touched or made.
    (tmp_path / "out").mkdir()
    outside = tmp_path / "outside.txt"
    if not dangling:
        outside.write_text("precious\n", encoding="utf-8")
    (tmp_path / "out" / "lenet5.json").symlink_to(Path("..") / "outside.txt")
    code, _, stderr = _run("check", "lenet5", "--max-params", "1G", "--write-reports", tmp_path / "out")
    assert code == 0, stderr
    report = tmp_path / "out" / "lenet5.json"
    assert not report.is_symlink()
    assert json.loads(report.read_text(encoding="utf-8"))["spec"]["name"] == "lenet5"
    if dangling:
        assert not outside.exists()
    else:
        assert outside.read_text(encoding="utf-8") == "precious\n"
    assert _files(tmp_path) == ["out", *([] if dangling else ["outside.txt"])]
    assert _files(tmp_path / "out") == ["lenet5.json"]


@pytest.mark.parametrize("entry", ["directory", "fifo"])
def test_write_reports_refuses_what_is_not_a_regular_file(entry: str, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    there = tmp_path / "out" / "lenet5.json"
    if entry == "directory":
        there.mkdir()
    else:
        os.mkfifo(there)
    start = time.monotonic()
    code, stdout, stderr = _run("check", "lenet5", "--max-params", "1G", "--write-reports", tmp_path / "out")
    assert time.monotonic() - start < 30  # a FIFO is refused, never waited on
    _refused(code, stderr, f"cannot write {there}", "remove it or write elsewhere")
    assert stdout == ""
    assert _files(tmp_path / "out") == ["lenet5.json"]
    kept = stat.S_ISDIR if entry == "directory" else stat.S_ISFIFO
    assert kept(there.lstat().st_mode)


# -- -o: only regular files are replaced ----------------------------------------------------------------

_COMPARE = ["compare", "lenet5", "--no-latency", "--format", "json", "-o"]


def test_output_through_a_symlink_keeps_the_link_and_replaces_its_target(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    target = tmp_path / "elsewhere" / "report.json"
    target.write_text("old", encoding="utf-8")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    code, _, stderr = _run(*_COMPARE, link)
    assert code == 0, stderr
    assert link.is_symlink()
    assert link.resolve() == target
    assert json.loads(target.read_text(encoding="utf-8"))["spec"]["name"] == "lenet5"
    assert _files(tmp_path / "elsewhere") == ["report.json"]  # the temporary file went beside the target
    assert _files(tmp_path) == ["elsewhere", "link.json"]


def test_output_to_a_directory_is_refused(tmp_path: Path) -> None:
    code, _, stderr = _run(*_COMPARE, tmp_path)
    _refused(code, stderr, "is a directory")


def test_output_to_a_fifo_is_written_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    process = subprocess.Popen(
        [*CONVPROF, *_COMPARE, str(fifo)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # convprof refuses a FIFO nobody reads, so the reader opens it first and keeps it open.
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    _, stderr = process.communicate(timeout=120)
    reader.join(timeout=120)
    assert process.returncode == 0, stderr
    assert json.loads(received[0])["spec"]["name"] == "lenet5"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert _files(tmp_path) == ["pipe"]


def test_output_to_a_fifo_nobody_reads_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, _, stderr = _run(*_COMPARE, fifo)
    _refused(code, stderr, "nothing is reading it")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_output_through_a_link_to_stdout_goes_to_stdout(tmp_path: Path) -> None:
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    code, stdout, stderr = _run(*_COMPARE, link)
    assert code == 0, stderr
    assert json.loads(stdout)["spec"]["name"] == "lenet5"
    assert link.is_symlink()
    assert os.readlink(link) == "/proc/self/fd/1"


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a character device (mknod) needs root")
@pytest.mark.parametrize(("minor", "code", "phrase"), [(3, 0, "wrote"), (7, 2, "No space left on device")])
def test_output_to_a_character_device_is_written_in_place(
    minor: int, code: int, phrase: str, tmp_path: Path
) -> None:
    device = tmp_path / "device"  # a clone of /dev/null (1, 3) or /dev/full (1, 7)
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    status, _, stderr = _run(*_COMPARE, device)
    assert status == code, stderr
    assert phrase in stderr
    assert "Traceback" not in stderr
    assert stat.S_ISCHR(os.stat(device).st_mode)
    assert os.stat(device).st_rdev == os.makedev(1, minor)
    assert _files(tmp_path) == ["device"]


def test_stale_temporary_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead = int(finished.stdout)
    stale = tmp_path / f".out.json.{dead}.0123abcd.tmp"
    stale.write_text("x" * 1000, encoding="utf-8")
    live = tmp_path / f".out.json.{os.getppid()}.0123abcd.tmp"  # a writer still running
    live.write_text("x", encoding="utf-8")
    other = tmp_path / f".other.json.{dead}.0123abcd.tmp"  # another target's: not ours to judge
    other.write_text("x", encoding="utf-8")
    write_atomic(tmp_path / "out.json", "{}\n")
    assert _files(tmp_path) == sorted([live.name, other.name, "out.json"])


def test_sigkill_while_writing_leaves_no_temporary_file(tmp_path: Path) -> None:
    # A large report (10,000 layers) is being written when the kill comes, or already written:
    # either way the directory holds the whole report or nothing, and no temporary file.
    spec = tmp_path / "big.yaml"
    spec.write_text(spec_text((3, 8, 8), ["relu"] * 10_000), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    for delay in (0.3, 0.6, 0.9, 1.2):
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "convprof",
                "compare",
                str(spec),
                "--no-latency",
                "--format",
                "json",
                "-o",
                str(out / "report.json"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        names = _files(out)
        assert names in ([], ["report.json"]), names
        if names:
            json.loads((out / "report.json").read_text(encoding="utf-8"))  # whole, never cut short
            (out / "report.json").unlink()


# -- bounded work --------------------------------------------------------------------------------------


def _windows(size: int, out: int) -> list[int]:
    """Each adaptive window's length, straight from torch's start and end index formulas."""
    return [((i + 1) * size + out - 1) // out - (i * size) // out for i in range(out)]


def test_adaptive_pool_with_a_huge_output_size_is_counted_exactly() -> None:
    out = 1_000_000
    spec = make_spec((3, 5, 7), [{"adaptiveavgpool2d": {"output_size": [out, 3]}}])
    (layer,) = analyze(spec).variant("conv").layers
    rows, cols = _windows(5, out), _windows(7, 3)
    assert layer.elementwise_ops == 3 * sum(rows) * sum(cols)
    assert layer.fan_in == max(rows) * max(cols)


@pytest.mark.parametrize("output_size", [10**7, [10**9, 1], [1, INT64_MAX // 3]])
def test_adaptive_pool_counts_any_output_size(output_size: Any) -> None:
    # Returns at all: the windows are never listed (10**9 of them would not fit in memory).
    spec = make_spec((1, 2, 3), [{"adaptivemaxpool2d": {"output_size": output_size}}])
    assert analyze(spec).variant("conv").layers[0].fan_in >= 1


def test_a_flatten_of_spatial_dimensions_before_a_2d_layer_reports_the_whole_input() -> None:
    spec = make_spec(
        (2, 3, 8, 8),
        [
            {"flatten": {"start_dim": 2, "end_dim": 3}},
            {"conv2d": {"out_channels": 2, "kernel_size": 3}},
            "relu",
        ],
    )
    layers = analyze(spec).variant("conv").layers
    assert layers[0].receptive_field == (1, 1, 1)
    assert layers[1].receptive_field is None  # "full": no box on the 3-D input
    assert layers[1].macs == (2 * 22 * 6) * (2 * 3 * 3)  # outputs x (in_channels x kernel)


# -- values torch accepts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [{"eps": 0}, {"momentum": 2.5}, {"momentum": -1}, {"eps": 0, "momentum": None}]
)
def test_batchnorm_takes_what_torch_takes(args: dict[str, Any]) -> None:
    spec = make_spec((3, 4, 4), [{"batchnorm2d": args}], batch_size=2)
    report = analyze(spec)
    for variant in ("conv", "local", "dense"):
        model = build_model(spec, variant, "meta")
        bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
        assert bn.eps == args.get("eps", 1e-5)
        assert bn.momentum == args.get("momentum", 0.1)
        assert sum(p.numel() for p in model.parameters()) == report.variant(variant).params
        assert (
            sum(b.numel() * b.element_size() for b in model.buffers()) == report.variant(variant).buffer_bytes
        )


@pytest.mark.parametrize(
    ("layer", "phrase"),
    [
        ({"linear": {"out_features": 0}}, "out_features: expected a positive integer"),
        ({"adaptiveavgpool2d": {"output_size": 0}}, "output_size: expected a positive integer"),
        ({"avgpool2d": {"kernel_size": 2, "divisor_override": -1}}, "divisor_override: expected a positive"),
        ({"flatten": {"start_dim": 0}}, "start_dim=0 would merge the batch"),
    ],
)
def test_values_convprof_refuses_on_purpose(layer: dict[str, Any], phrase: str) -> None:
    # docs/spec-format.md, "Stricter than torch": zero-size tensors, a negative divisor and a flattened batch.
    with pytest.raises(SpecError, match=phrase):
        make_spec((3, 4, 4), [layer])


def test_the_earliest_failing_layer_is_named(tmp_path: Path) -> None:
    # layers.1 cannot run on one sample of 1x1 (batch statistics); layers.3's kernel does not fit either.
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        spec_text(
            (3, 1, 1),
            [
                "relu",
                {"batchnorm2d": {"track_running_stats": False}},
                "relu",
                {"conv2d": {"out_channels": 2, "kernel_size": 3}},
            ],
        ),
        encoding="utf-8",
    )
    code, _, stderr = _run("compare", spec, "--no-latency")
    _refused(code, stderr, "layers.1 batchnorm2d", "more than one value per channel")


@pytest.mark.parametrize("count_first", [False, True], ids=["composed", "counted-before-composing"])
def test_a_big_document_is_not_blamed_on_aliases(count_first: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlnode, "MAX_EXPANDED_NODES", 100)
    if count_first:  # as for a document over 1 MiB: its events are counted before any node is built
        monkeypatch.setattr(yamlnode, "_COUNT_FIRST_CHARS", 0)
    plain = ("[" + "1, " * 150 + "1]").encode()
    with pytest.raises(SpecError, match="more than 100 nodes; a spec is a short list") as caught:
        load_nodes(plain, "big.yaml")
    assert "alias" not in str(caught.value)
    aliased = (
        b"a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
        b"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        b"c: [*b, *b]\n"
    )
    with pytest.raises(SpecError, match="more than 100 nodes through aliases"):
        load_nodes(aliased, "bomb.yaml")


# -- tracebacks that became one line and exit 2 ------------------------------------------------------------

_DIGITS_5000 = "9" * 5000
_DIGITS_400 = "9" * 400


def _merge_chain(levels: int) -> str:
    lines = ["a0: &a0 {x: 1}"]
    lines += [f"a{i}: &a{i}\n  <<: *a{i - 1}" for i in range(1, levels)]
    return "\n".join(lines) + "\ninput: [3, 8, 8]\nlayers: [relu]\n"


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("input: [3, 8, 8]\nbatch_size: !!int abc\nlayers: [relu]\n", "'abc' is not a YAML int"),
        ("input: [3, 8, 8]\nbatch_size: !!float abc\nlayers: [relu]\n", "'abc' is not a YAML float"),
        (f"input: [3, 8, 8]\nbatch_size: {_DIGITS_5000}\nlayers: [relu]\n", "a number of 5,000 digits"),
        (f"input: [3, 8, 8]\nlayers: [leakyrelu: {{negative_slope: {_DIGITS_400}}}]\n", "400 digits"),
        (
            "input: [3, 8, 8]\nlayers: [leakyrelu: {negative_slope: 1.0e+400}]\n",
            "finite number, got 1.0e+400",
        ),
        ("input: [3, 8, 8]\nlayers: [dropout: {p: 1e400}]\n", "probability"),
        (
            "input: [3, 8, 8]\nlayers: [conv2d: {out_channels: 9223372036854775808, kernel_size: 1}]\n",
            "larger than 9,223,372,036,854,775,807",
        ),
        ("input: [9223372036854775807, 2, 2]\nlayers: [relu]\n", "more than torch can index"),
        ("input: [3, 8, 8]\nlayers: [linear: {out_features: 9223372036854775807}]\n", "its output has"),
        (f"input: [3, 8, 8]\nlayers: [relu]\nbudgets: {{params: {_DIGITS_5000}}}\n", "5,000 digits"),
        (f"input: [3, 8, 8]\nlayers: [relu]\nbudgets: {{params: {'9' * 40}}}\n", "at most 30"),
        (
            f"input: [3, 8, 8]\nlayers: [relu]\nbudgets: {{latency_ms: {{cpu: {_DIGITS_400}}}}}\n",
            "400 digits",
        ),
        (f"input: [3, 8, 8]\nlayers: [relu]\nbudgets: {{latency_ms: {{cpu: {'9' * 50}}}}}\n", "at most 30"),
        (_merge_chain(990), "chained deeper than 64"),
        # A tag the text does not fit: an internal error (KeyError) for !!bool, accepted for the others.
        ("input: [3, 8, 8]\nbatch_size: !!bool maybe\nlayers: [relu]\n", "2:13: 'maybe' is not a YAML bool"),
        (
            "input: [3, 8, 8]\nname: !!timestamp notadate\nlayers: [relu]\n",
            "'notadate' is not a YAML timestamp",
        ),
        ("input: [3, 8, 8]\nname: !!timestamp 2001-13-40\nlayers: [relu]\n", "'2001-13-40' is not a YAML"),
        ("input: [3, 8, 8]\ndescription: !!null abc\nlayers: [relu]\n", "'abc' is not a YAML null"),
    ],
    ids=[
        "int-tag",
        "float-tag",
        "int-5000-digits",
        "float-from-400-digits",
        "float-overflow",
        "probability-overflow",
        "past-int64",
        "input-elements",
        "output-elements",
        "budget-5000-digits",
        "budget-40-digits",
        "latency-400-digits",
        "latency-50-digits",
        "merge-chain-990",
        "bool-tag",
        "timestamp-tag",
        "timestamp-tag-no-date",
        "null-tag",
    ],
)
def test_hostile_specs_exit_2_with_one_located_line(text: str, phrase: str, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(text, encoding="utf-8")
    code, stdout, stderr = _run("check", spec, "--max-params", "1G")
    _refused(code, stderr, f"{spec}:", phrase)
    assert stdout == ""


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["check", "lenet5", "--max-params", _DIGITS_5000], "5,000 digits"),
        (["check", "lenet5", "--max-macs", "1" + "0" * 4400], "4,401 digits"),
        (["check", "lenet5", "--max-param-bytes", _DIGITS_400 + "GiB"], "400 digits"),
        (["check", "lenet5", "--max-latency", "cpu=" + _DIGITS_400], "400 digits"),
        (["check", "lenet5", "--max-growth", "params=" + _DIGITS_400 + "%"], "400 digits"),
        (["sweep", "lenet5", "--batch-size", _DIGITS_5000], "larger than 9,223,372,036,854,775,807"),
        (["sweep", "lenet5", "--resolution", "32x" + _DIGITS_400], "larger than 9,223,372,036,854,775,807"),
        (["sweep", "lenet5", "--width", "1e300"], "is over 2**63"),
        (["sweep", "lenet5", "--width", "1" + "0" * 400], "not a positive multiplier"),
        (["sweep", "lenet5", "--set", f"layers.0.conv2d.out_channels={_DIGITS_5000}"], "5,000 digits"),
        (["sweep", "lenet5", "--set", "layers.0.conv2d.out_channels=99999999999999999999,3"], "2**63 - 1"),
        (["sweep", "lenet5", "--set", "layers.0.conv2d.kernel_size=!!int abc,3"], "not a YAML int"),
    ],
)
def test_hostile_limits_and_sweep_values_exit_2_with_one_line(args: list[str], phrase: str) -> None:
    code, stdout, stderr = _run(*args)
    _refused(code, stderr, phrase)
    assert len(stderr) < 400  # the value is quoted cut short, not in full
    assert stdout == ""


@pytest.fixture(scope="module")
def good_report() -> str:
    """lenet5's report as the CLI writes it: once for every hostile edit of it."""
    code, stdout, stderr = _run("compare", "lenet5", "--no-latency", "--format", "json")
    assert code == 0, stderr
    return stdout


def _hostile_reports(good: str) -> dict[str, str]:
    data = json.loads(good)
    nan, inf = json.loads(good), json.loads(good)
    nan["variants"]["conv"]["latency"] = {"cpu": {"median_ms": float("nan")}}
    inf["variants"]["conv"]["latency"] = {"cpu": {"median_ms": float("-inf")}}
    deep_env = json.dumps({**data, "environment": {"calibration": {"a": 0}}}).replace(
        '"a": 0', '"a": ' + "[" * 900 + "]" * 900
    )
    return {
        "100k-deep": '{"schema_version": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "900-deep": deep_env,
        "5000-digit-int": good.replace('"params": ', '"params": ' + _DIGITS_5000, 1),
        "400-digit-int": good.replace('"params": ', '"params": ' + _DIGITS_400, 1),
        "lone-surrogate": good.replace('"name": "', '"name": "\\ud800', 1),
        "surrogate-key": good.replace('"spec": {', '"spec": {"\\udfff": 1, ', 1),
        "nan-median": json.dumps(nan),
        "infinite-median": json.dumps(inf),
    }


@pytest.mark.parametrize(
    ("case", "phrase"),
    [
        ("100k-deep", "nested deeper than 64 levels"),
        ("900-deep", "nested deeper than 64 levels"),
        ("5000-digit-int", "an integer of 5,00"),
        ("400-digit-int", "an integer of 40"),
        ("lone-surrogate", "lone UTF-16 surrogate"),
        ("surrogate-key", "lone UTF-16 surrogate"),
        ("nan-median", "NaN is not a number a report holds"),
        ("infinite-median", "-Infinity is not a number a report holds"),
    ],
)
@pytest.mark.parametrize("command", ["diff", "merge", "check"])
def test_hostile_reports_exit_2_with_one_located_line(
    case: str, phrase: str, command: str, good_report: str, tmp_path: Path
) -> None:
    good = tmp_path / "good.json"
    good.write_text(good_report, encoding="utf-8")
    broken = tmp_path / "broken.json"
    broken.write_text(_hostile_reports(good.read_text(encoding="utf-8"))[case], encoding="utf-8")
    args = {
        "diff": ["diff", good, broken],
        "merge": ["merge", broken],
        "check": ["check", "lenet5", "--baseline", broken, "--max-growth", "params=0%"],
    }[command]
    code, stdout, stderr = _run(*args)
    _refused(code, stderr, f"{broken}:", phrase)
    assert stdout == ""


def test_batch_size_option_decides_which_layers_can_run(tmp_path: Path) -> None:
    # At the spec's batch of 1 the batchnorm sees one value per channel; --batch-size 4 gives it four.
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        spec_text((3, 1, 1), [{"batchnorm2d": {"track_running_stats": False}}, "relu"]), encoding="utf-8"
    )
    code, _, stderr = _run("compare", spec, "--no-latency")
    _refused(code, stderr, "layers.0 batchnorm2d")
    code, stdout, stderr = _run("compare", spec, "--no-latency", "--batch-size", "4", "--format", "json")
    assert code == 0, stderr
    assert json.loads(stdout)["spec"]["batch_size"] == 4


# -- messages that name the right thing ------------------------------------------------------------------


@pytest.mark.parametrize(
    "index", ["0_0", "\u0661", "+0", " 0"], ids=["underscore", "arabic-indic", "plus", "space"]
)
def test_an_index_in_a_dotted_path_is_ascii_digits(index: str, tmp_path: Path) -> None:
    # Python's int() reads `0_0` as 0 and the Arabic-Indic one as 1: both were taken as indices.
    spec = tmp_path / "spec.yaml"
    layers = [{"repeat": {"times": 2, "layers": [{"conv2d": {"out_channels": 3, "kernel_size": 1}}]}}]
    layers[0]["repeat"]["first"] = {f"{index}.conv2d.stride": 2}
    spec.write_text(spec_text((3, 8, 8), layers), encoding="utf-8")
    code, _, stderr = _run("compare", spec, "--no-latency")
    _refused(code, stderr, f"{spec}:1:", f"repeat first: layers is a list, so {index!r} must be an index")
    code, _, stderr = _run("sweep", "lenet5", "--set", f"layers.{index}.conv2d.out_channels=4,8")
    _refused(code, stderr, f"so {index!r} must be an index from 0 to")


def test_a_layer_inside_another_block_is_named_by_its_path(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    block = {
        "group": {"name": "b", "layers": [{"conv2d": {"name": "c", "out_channels": 3, "kernel_size": 1}}]}
    }
    spec.write_text(spec_text((3, 8, 8), [block, {"add": {"from": ["c", "input"]}}]), encoding="utf-8")
    code, _, stderr = _run("compare", spec, "--no-latency")
    _refused(code, stderr, "add from: 'c' is a layer inside another block ('b.c')", "from: /b.c")
    assert "did you mean c?" not in stderr
    spec.write_text(spec_text((3, 8, 8), [block, {"add": {"from": ["/b.c", "input"]}}]), encoding="utf-8")
    code, _, stderr = _run("compare", spec, "--no-latency")
    assert code == 0, stderr  # the advice works


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize(
    ("budget", "args", "blamed"),
    [
        ("latency_ms: {cuda: 5}", [], "budgets latency_ms.cuda: CUDA is not available here"),
        ("training_latency_ms: {cuda: 5}", [], "budgets training_latency_ms.cuda: CUDA is not available"),
        (None, ["--max-latency", "cuda=5"], "--max-latency cuda=5: CUDA is not available here"),
        (None, ["--max-training-latency", "cuda=5"], "--max-training-latency cuda=5: CUDA is not"),
    ],
    ids=["budget", "training-budget", "option", "training-option"],
)
def test_a_gpu_budget_without_a_gpu_blames_what_asked_for_it(
    budget: str | None, args: list[str], blamed: str, tmp_path: Path
) -> None:
    # It used to blame `--device cuda`, an option check does not even have.
    spec = tmp_path / "spec.yaml"
    spec.write_text("input: [3, 8, 8]\nlayers: [relu]\n" + (f"budgets: {{{budget}}}\n" if budget else ""))
    code, stdout, stderr = _run("check", spec, *args, "--preset", "quick")
    _refused(code, stderr, blamed)
    assert "--device" not in stderr
    assert stdout == ""
