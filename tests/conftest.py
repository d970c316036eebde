"""Shared fixtures: golden files, spec helpers, the repository's paths; how the suite runs in parallel.

The suite runs on every core (pytest-xdist, `-n auto` in pyproject.toml's addopts): each worker is a
process of its own, so a test's cwd, environment and module state are its worker's alone; every
file a test writes is under its own `tmp_path`, and each worker has a cache directory of its own
(XDG_CACHE_HOME). Goldens are rewritten in one process.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GOLDEN = Path(__file__).resolve().parent / "golden"

#: Variables a terminal sets that change how wide convprof draws its tables. An xdist worker starts
#: with them (80x24, with no terminal in sight), a user's shell may export them: removed for the run,
#: so that every test sees what CI sees, and a test that needs a width sets one itself.
TERMINAL_SIZE_VARIABLES = ("COLUMNS", "LINES")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="Rewrite tests/golden/* from the current output instead of comparing (runs in one process).",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Rewrite goldens in one process (as -n0), whatever addopts or the command line ask: each run
    writes every golden once, from one interpreter, in the order the tests are written."""
    if config.getoption("--update-goldens") and hasattr(config.option, "numprocesses"):
        config.option.numprocesses = 0


#: Set by some environments so that Python writes no bytecode: every convprof process a test starts
#: would then compile convprof's modules again. Removed for the run (and the workers and processes it
#: starts), so that they run as an installed package runs, with its bytecode cached.
NO_BYTECODE_VARIABLE = "PYTHONDONTWRITEBYTECODE"


def pytest_configure(config: pytest.Config) -> None:
    for name in (*TERMINAL_SIZE_VARIABLES, NO_BYTECODE_VARIABLE):
        os.environ.pop(name, None)
    if "PYTEST_XDIST_WORKER" in os.environ:
        # One thread for the torch work tests do in the worker itself: the workers already fill
        # every core, and torch's idle threads spin while they wait. (Measuring sets its own
        # count: convprof's --threads.)
        import torch

        torch.set_num_threads(1)


#: The garbage collector's full passes counted when it last froze what was alive.
_FULL_PASSES_AT_FREEZE = [-1]


def _freeze_what_lives() -> None:
    """Once the tests are collected, and after a test in which the cyclic garbage collector made a
    full pass: collect, then move what is alive out of the collector's sight (`gc.freeze`). What
    survives a full pass mostly lives to the end of the run (torch and convprof, the test items,
    what tests load on their way: torch._dynamo with the first model imported, torch's compiler
    with `--compile`, half a million objects), and each later full pass walked all of it again,
    one every fifty tests or so: about a tenth of the suite's CPU. Tests' garbage is still
    collected, and reference counting frees everything else as before."""
    if gc.get_stats()[2]["collections"] != _FULL_PASSES_AT_FREEZE[0]:
        gc.collect()
        gc.freeze()
        _FULL_PASSES_AT_FREEZE[0] = gc.get_stats()[2]["collections"]


def pytest_collection_finish(session: pytest.Session) -> None:
    _freeze_what_lives()


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _freeze_what_lives()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker, start the tests marked slow first: the workers then end together rather
    than one running a long test alone at the end. Every worker collects the same order, as xdist
    requires; a run in one process keeps the order the tests are written in."""
    if "PYTEST_XDIST_WORKER" in os.environ:
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: order kept within


@pytest.fixture(scope="session", autouse=True)
def own_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cache directory of the run's own (each worker's), for convprof and the commands it starts: the
    calibration cache starts empty, as on a fresh machine, and no run reads or writes the user's."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache))
        yield cache


#: The variable pytest sets to the running test and its phase.
_PHASE = "PYTEST_CURRENT_TEST"


@pytest.fixture(autouse=True)
def environment_restored() -> Iterator[None]:
    """Every test starts from the same environment: what a test, or torch inside it, sets is undone
    (torch's compiler sets TORCHINDUCTOR_CACHE_DIR and OMP_NUM_THREADS in the process it runs in)."""
    before = dict(os.environ)
    yield
    after = dict(os.environ)
    # pytest names the phase in PYTEST_CURRENT_TEST ("(setup)" then, "(teardown)" now): its own.
    before.pop(_PHASE, None)
    phase = after.pop(_PHASE, None)
    if after != before:
        os.environ.clear()
        os.environ.update(before)
        if phase is not None:
            os.environ[_PHASE] = phase


@pytest.fixture(scope="session", autouse=True)
def convprof_fork_server(own_cache: Path) -> Iterator[None]:
    """This test process's fork server, for the convprof commands tests start (tests/processes.py)."""
    from tests.processes import fork_server

    with fork_server():
        yield


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """Compare text with tests/golden/NAME, or rewrite it under --update-goldens."""
    update = request.config.getoption("--update-goldens")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.exists(), f"missing golden {path.name}; run pytest --update-goldens and review the diff"
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"output differs from golden {name}; if intended, run --update-goldens"

    return check


#: The user property a test's report carries each screenshot under (xdist sends it to the main process).
SCREENSHOT_PROPERTY = "screenshot"
#: The screenshots this run kept, as the main process learns of them.
SCREENSHOTS: list[str] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the screenshots a test saved to its report, so that the run lists them in one place."""
    from tests.browser import SAVED

    report = yield
    report.user_properties.extend((SCREENSHOT_PROPERTY, str(path)) for path in SAVED)
    SAVED.clear()
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    SCREENSHOTS.extend(value for name, value in report.user_properties if name == SCREENSHOT_PROPERTY)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List the screenshots the browser tests kept, as the run's artifacts."""
    if SCREENSHOTS:
        terminalreporter.section("browser screenshots")
        terminalreporter.write_line(f"{len(SCREENSHOTS)} pages, under {Path(SCREENSHOTS[0]).parent}:")
        for path in SCREENSHOTS:
            terminalreporter.write_line(f"  {path}")
