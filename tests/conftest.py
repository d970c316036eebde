"""Shared fixtures: golden files, spec helpers, the repository's paths."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture(autouse=True)
def _no_inherited_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test as in a pipe with no COLUMNS, whatever started the suite: pytest-xdist's
    workers inherit COLUMNS=80, and a table's layout follows COLUMNS. Tests that want a width say so."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="Rewrite tests/golden/* from the current output instead of comparing.",
    )


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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List the screenshots the browser tests kept, as the run's artifacts."""
    from tests.browser import SAVED

    if SAVED:
        terminalreporter.section("browser screenshots")
        terminalreporter.write_line(f"{len(SAVED)} pages, under {SAVED[0].parent}:")
        for path in SAVED:
            terminalreporter.write_line(f"  {path}")
