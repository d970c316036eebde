"""A model's own code cannot disturb convprof's output: its prints, a change of directory, torch's
cache directory, an exception that is not an Exception.

Each model is a file written here and named as `file.py:callable`; convprof runs in a child
process, as a user runs it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from tests.processes import CONVPROF, FRESH, started

#: A small model whose code runs at import, in its constructor and in its forward.
_MODEL = """
import torch

{at_import}

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
{in_init}
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.relu = torch.nn.ReLU()

    def forward(self, x):
{in_forward}
        return self.relu(self.conv(x))


def net():
    return Net()
"""


def _model(tmp_path: Path, at_import: str = "", in_init: str = "", in_forward: str = "") -> str:
    """Write the model with code at each place; return its reference."""

    def body(code: str, indent: str) -> str:
        return textwrap.indent(textwrap.dedent(code).strip() or "pass", indent)

    text = _MODEL.format(
        at_import=body(at_import, ""), in_init=body(in_init, " " * 8), in_forward=body(in_forward, " " * 8)
    )
    (tmp_path / "net.py").write_text(text, encoding="utf-8")
    return "net.py:net"


def _run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, command: list[str] = CONVPROF
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
    )


# -- prints --------------------------------------------------------------------------------------------

_PRINTS = {
    "at_import": """
        import atexit, os, sys
        print("printed at import")
        os.write(1, b"written to descriptor 1 at import\\n")
        sys.__stdout__.write("written to sys.__stdout__ at import\\n")
        atexit.register(print, "printed at exit")
    """,
    "in_init": 'print("printed in __init__")',
    "in_forward": 'print("printed in forward")',
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ["import", "--input", "3x8x8"],
        ["compare", "--input", "3x8x8", "--no-latency", "--format", "json"],
        ["check", "--input", "3x8x8", "--max-params", "1k", "--format", "json"],
    ],
    ids=["import", "compare", "check"],
)
def test_a_model_that_prints_leaves_stdout_to_convprof(command: list[str], tmp_path: Path) -> None:
    reference = _model(tmp_path, **_PRINTS)
    result = _run([command[0], reference, *command[1:]], tmp_path)
    assert result.returncode == 0, result.stderr
    if command[0] == "import":
        assert yaml.safe_load(result.stdout)["name"] == "net"  # the spec alone: valid YAML
    else:
        assert json.loads(result.stdout)["schema_version"]  # the result alone: valid JSON
    for line in ("printed at import", "written to descriptor 1 at import", "printed in __init__"):
        assert line not in result.stdout
        assert line in result.stderr  # a model's output is not lost: it goes to stderr
    assert "printed in forward" in result.stderr
    assert "printed at exit" not in result.stdout


# -- the working directory -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("where", ["at_import", "in_forward"])
def test_a_model_that_changes_directory_moves_no_path(where: str, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    move = f'import os; os.chdir("{tmp_path / "elsewhere"}")'
    reference = _model(tmp_path, **{where: move})
    (tmp_path / "reports").mkdir()
    for args in (
        ["import", reference, "--input", "3x8x8", "-o", "out.yaml"],
        ["compare", reference, "--input", "3x8x8", "--no-latency", "--format", "json", "-o", "out.json"],
        [
            "check",
            reference,
            "--input",
            "3x8x8",
            "--max-params",
            "1k",
            "--write-reports",
            "reports",
            "-o",
            "c.md",
        ],
    ):
        result = _run(args, tmp_path)
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c.md",
        "elsewhere",
        "net.py",
        "out.json",
        "out.yaml",
        "reports",
    ]
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["net.json"]
    assert yaml.safe_load((tmp_path / "out.yaml").read_text(encoding="utf-8"))["name"] == "net"


@pytest.mark.slow
def test_paths_after_a_model_on_the_command_line_are_read_where_the_user_is(tmp_path: Path) -> None:
    reference = _model(tmp_path, at_import='import os; os.chdir("/")')
    (tmp_path / "spec.yaml").write_text("input: [3, 8, 8]\nlayers: [relu]\n", encoding="utf-8")
    result = _run(["check", reference, "spec.yaml", "--input", "3x8x8", "--max-params", "1k"], tmp_path)
    assert result.returncode == 0, result.stderr


# -- torch's cache directory ---------------------------------------------------------------------------

#: Model code that makes torch create its compile cache's directory (torch._dynamo's import does).
#: These tests run new interpreters: the fork server has imported torch._dynamo already.
_DYNAMO = "import torch._dynamo"


@pytest.mark.slow
def test_an_import_leaves_nothing_in_tmpdir(tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    reference = _model(tmp_path, at_import=_DYNAMO, in_forward=_DYNAMO)
    result = _run(["import", reference, "--input", "3x8x8"], tmp_path, {"TMPDIR": str(temporary)}, FRESH)
    assert result.returncode == 0, result.stderr
    assert list(temporary.iterdir()) == []


@pytest.mark.slow
def test_a_cache_directory_the_user_chose_is_kept(tmp_path: Path) -> None:
    temporary, cache = tmp_path / "tmp", tmp_path / "cache"
    temporary.mkdir()
    reference = _model(tmp_path, at_import=_DYNAMO)
    env = {"TMPDIR": str(temporary), "TORCHINDUCTOR_CACHE_DIR": str(cache)}
    result = _run(["import", reference, "--input", "3x8x8"], tmp_path, env, FRESH)
    assert result.returncode == 0, result.stderr
    assert cache.is_dir()
    assert list(temporary.iterdir()) == []


@pytest.mark.slow
def test_a_signal_while_a_model_runs_leaves_nothing_in_tmpdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))  # the child inherits it
    ready = tmp_path / "ready"
    forward = f"{_DYNAMO}\nopen({str(ready)!r}, 'w').close()\nimport time\ntime.sleep(60)"
    reference = _model(tmp_path, in_forward=forward)
    with started(["import", reference, "--input", "3x8x8"], tmp_path, command=FRESH) as process:
        deadline = time.monotonic() + 120
        while not ready.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert ready.exists(), process.communicate()
        process.send_signal(signal.SIGTERM)  # while the model's forward runs, its cache dir made
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 143, stderr
    assert stdout == ""
    assert list(temporary.iterdir()) == []


# -- exceptions that are not Exceptions ----------------------------------------------------------------

_RAISES = {
    "SystemExit": "raise SystemExit(3)",
    "KeyboardInterrupt": 'raise KeyboardInterrupt("typed by the model")',
    "GeneratorExit": "raise GeneratorExit",
    "its-own": "class Stop(BaseException):\n    pass\nraise Stop('the model stops')",
}


@pytest.mark.slow
@pytest.mark.parametrize("raised", _RAISES, ids=_RAISES.keys())
@pytest.mark.parametrize(
    ("where", "what"),
    [
        ("at_import", "net.py:net: loading net.py raised"),
        ("in_init", "net.py:net: calling net raised"),
        ("in_forward", "net.py:net: running the model raised"),
    ],
    ids=["import", "call", "forward"],
)
def test_a_base_exception_from_a_models_code_is_one_line(
    where: str, what: str, raised: str, tmp_path: Path
) -> None:
    reference = _model(tmp_path, **{where: _RAISES[raised]})
    result = _run(["import", reference, "--input", "3x8x8"], tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    name = "Stop" if raised == "its-own" else raised
    assert line.startswith(f"convprof: error: {what} {name}"), line


# -- the end of a run ----------------------------------------------------------------------------------

#: Model code that keeps the interpreter busy in its teardown: the object is collected with the
#: model's module when Python shuts down, after Python has given the signals back to the system.
_TEARDOWN = """
import pathlib, time

class Teardown:
    def __del__(self):
        pathlib.Path({ready!r}).touch()
        time.sleep(10)

KEPT = Teardown()
"""


@pytest.mark.slow
def test_a_signal_after_the_result_is_written_is_still_143_or_the_run_has_ended(tmp_path: Path) -> None:
    # A SIGTERM while the interpreter tore torch down (after the result was written) ended the run by
    # the system's default action, -15, instead of 143; convprof now ends without that teardown.
    ready = tmp_path / "tearing-down"
    reference = _model(tmp_path, at_import=_TEARDOWN.format(ready=str(ready)))
    # A new interpreter: its teardown is what is tested (a child of the fork server has none).
    with started(
        ["import", reference, "--input", "3x8x8", "-o", "out.yaml"], tmp_path, command=FRESH
    ) as process:
        deadline = time.monotonic() + 120
        while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if ready.exists():
            process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    if ready.exists():  # the teardown ran: the signal must still end the run as documented
        assert process.returncode == 143, stderr
    else:  # no teardown: the run ended as soon as its result was written
        assert process.returncode == 0, stderr
        assert yaml.safe_load((tmp_path / "out.yaml").read_text(encoding="utf-8"))["name"] == "net"


# -- bytecode ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reference", ["net.py:net", "models.net:net"], ids=["file", "module"])
def test_importing_a_model_writes_no_bytecode_beside_its_code(reference: str, tmp_path: Path) -> None:
    # Python writes `__pycache__/` beside every module it imports unless told not to; the run here
    # allows it (as an installed convprof runs), yet nothing is added beside the model's code.
    assert not os.environ.get("PYTHONDONTWRITEBYTECODE")
    _model(tmp_path)
    package = tmp_path / "models"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "net.py").rename(package / "net.py")
    if reference.startswith("net.py"):
        (package / "net.py").rename(tmp_path / "net.py")
    result = _run(["import", reference, "--input", "3x8x8"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["name"] == "net"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == sorted(
        [
            "models",
            "models/__init__.py",
            *(["net.py"] if reference.startswith("net.py") else ["models/net.py"]),
        ]
    )
