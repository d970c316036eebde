"""The README and docs/ as tested text: every command they show runs as shown, every link resolves.

A fenced `sh` block shows commands: each line whose first word is `convprof` runs (install lines do
not: CI runs those itself). A `console` or `text` block shows a session: each `$ ` line runs, and
the lines after it, up to the next `$ `, are its standard output, compared line by line: a line
`...` stands for any lines, and `...` inside a line for any text. A command ends with `# exit N`
where it is meant to exit N (0 otherwise), and with `# on a N-column terminal` where its output was
taken at that width (100 otherwise). `<!-- file: NAME -->` before a block writes the block to NAME
in the directory where that document's commands run (beside a copy of specs/); `<!-- measured -->`
before a block says its figures were measured, so that only their place and units are compared.

Commands that need what CI does not have (a third-party model library, a GPU, matplotlib) skip
saying so; commands that measure or import need torch and are marked slow.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, SPECS
from tests.processes import CONVPROF

#: Every document whose commands and links are tested.
DOCUMENTS = (ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md")))

#: The width the shown outputs were taken at, unless a command says another.
DEFAULT_COLUMNS = 100

#: Fence languages whose blocks show commands: one per line, or a session of `$ ` lines.
COMMAND_LANGUAGES = frozenset({"sh", "bash", "shell"})
SESSION_LANGUAGES = frozenset({"console", "text"})

#: Libraries a shown command may need that CI does not install, by the module a REF names.
OPTIONAL_LIBRARIES = frozenset({"torchvision", "timm", "ultralytics", "segmentation_models_pytorch", "monai"})


@dataclass(frozen=True)
class Command:
    """One shown command and what it is shown to do."""

    line: str
    """The shell line, as shown (without the `$ `)."""
    output: tuple[str, ...] | None
    """Its shown standard output, or None where none is shown."""

    @property
    def exit_code(self) -> int:
        found = re.search(r"#\s*exit (\d+)", self.line)
        return int(found.group(1)) if found else 0

    @property
    def columns(self) -> int:
        found = re.search(r"#\s*on an? (\d+)-column terminal", self.line)
        return int(found.group(1)) if found else DEFAULT_COLUMNS


@dataclass(frozen=True)
class Block:
    """One fenced block of commands in a document."""

    document: Path
    line: int
    """Where its fence opens (1-based)."""
    commands: tuple[Command, ...]
    measured: bool
    """Its figures were measured: compared by their place and units only."""

    @property
    def name(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


@dataclass(frozen=True)
class Fence:
    """A fenced block as written: its language, first line, text and the comment before it."""

    language: str
    line: int
    lines: tuple[str, ...]
    note: str


def fences(text: str) -> list[Fence]:
    """Return the fenced blocks of a Markdown text, each with the HTML comment just before it."""
    found = []
    lines = text.splitlines()
    index = 0
    note = ""
    while index < len(lines):
        line = lines[index]
        comment = re.fullmatch(r"<!--\s*(.*?)\s*-->", line.strip())
        if comment:
            note = comment.group(1)
        elif line.startswith("```"):
            language = line[3:].strip()
            end = index + 1
            while not lines[end].startswith("```"):
                end += 1
            found.append(Fence(language, index + 1, tuple(lines[index + 1 : end]), note))
            index, note = end, ""
        elif line.strip():
            note = ""
        index += 1
    return found


def _is_convprof(line: str) -> bool:
    words = line.split()
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
        words = words[1:]
    return bool(words) and words[0] == "convprof"


def commands_of(fence: Fence) -> tuple[Command, ...]:
    """Return the commands a block shows: convprof lines of a shell block, `$ ` lines of a session."""
    if fence.language in COMMAND_LANGUAGES:
        return tuple(Command(line, None) for line in fence.lines if _is_convprof(line))
    if fence.language not in SESSION_LANGUAGES:
        return ()
    commands: list[Command] = []
    current: str | None = None
    shown: list[str] = []
    for line in fence.lines:
        if line.startswith("$ "):
            if current is not None:
                commands.append(Command(current, tuple(shown) if shown else None))
            current, shown = line[2:], []
        elif current is not None:
            shown.append(line)
    if current is not None:
        commands.append(Command(current, tuple(shown) if shown else None))
    if not any(_is_convprof(command.line) for command in commands):
        return ()
    return tuple(commands)


def blocks() -> list[Block]:
    """Return every block of commands in the tested documents."""
    found = []
    for document in DOCUMENTS:
        for fence in fences(document.read_text(encoding="utf-8")):
            commands = commands_of(fence)
            if commands:
                found.append(Block(document, fence.line, commands, fence.note == "measured"))
    return found


def files_of(document: Path) -> dict[str, str]:
    """Return the files a document writes for its commands (`<!-- file: NAME -->` before a block)."""
    written = {}
    for fence in fences(document.read_text(encoding="utf-8")):
        named = re.fullmatch(r"file:\s*(\S+)", fence.note)
        if named:
            written[named.group(1)] = "\n".join(fence.lines) + "\n"
    return written


# -- what a command needs ------------------------------------------------------------------------------


def _words(line: str) -> list[list[str]]:
    """Return the argument lists of each convprof invocation on a shell line."""
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError:
        return []
    invocations: list[list[str]] = []
    current: list[str] | None = None
    for token in tokens:
        if token == "convprof":
            current = []
            invocations.append(current)
        elif token in {"|", "&&", ";", ">", "<"}:
            current = None
        elif current is not None:
            current.append(token)
    return invocations


def _references(arguments: list[str]) -> list[str]:
    """Return the model references (`package.module:callable`, `file.py:callable`) among arguments."""
    return [a for a in arguments if re.fullmatch(r"[\w./-]+:[A-Za-z_]\w*", a) and not a.startswith("-")]


def needs_torch(line: str) -> bool:
    """Whether a shown command measures or imports, which needs torch."""
    for arguments in _words(line):
        command = arguments[0] if arguments else ""
        if command in {"import", "calibrate"} or _references(arguments):
            return True
        if command == "compare" and "--no-latency" not in arguments:
            return True
        if command == "sweep" and "--latency" in arguments:
            return True
        if command == "check" and {"--latency", "--training"} & set(arguments):
            return True
    return False


def _libraries(line: str) -> set[str]:
    needed = set()
    for arguments in _words(line):
        for reference in _references(arguments):
            module = reference.split(":")[0].split(".")[0]
            if module in OPTIONAL_LIBRARIES:
                needed.add(module)
        if "--plot" in arguments:
            needed.add("matplotlib")
        if {"cuda", "all"} & {v for k, v in itertools.pairwise(arguments) if k == "--device"}:
            needed.add("cuda")
    return needed


@functools.cache
def _available(library: str) -> bool:
    """Whether `library` imports (or, for `cuda`, whether torch sees a GPU). torch is asked here, the
    suite having imported it; another library is imported in a fresh interpreter, where it is
    installed at all (torchvision installs beside a torch it cannot load with)."""
    if library in ("torch", "cuda"):
        try:
            import torch
        except ImportError:
            return False
        return library == "torch" or torch.cuda.is_available()
    if importlib.util.find_spec(library) is None:
        return False
    code = f"import {library}"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False, timeout=300)
    return result.returncode == 0


def _missing(block: Block) -> str | None:
    """Why a block cannot run here, or None."""
    lines = [command.line for command in block.commands]
    if any(needs_torch(line) for line in lines) and not _available("torch"):
        return "needs torch, which is not installed"
    for library in sorted(set().union(*(_libraries(line) for line in lines))):
        if not _available(library):
            return "needs a CUDA device" if library == "cuda" else f"needs {library}, which is not installed"
    return None


def _parameters() -> list[object]:
    marked = []
    for block in blocks():
        slow = any(needs_torch(command.line) for command in block.commands)
        marks = [pytest.mark.slow] if slow else []
        marked.append(pytest.param(block, id=block.name, marks=marks))
    return marked


# -- comparing output ----------------------------------------------------------------------------------


#: A measured figure: digits, maybe marked unstable (`~`), maybe with a decimal prefix (`2.31 G`).
_FIGURE = r"~?\d[\d,.]*(?: [kMGT](?= |$))?"


def _line_pattern(line: str, measured: bool) -> str:
    """A regular expression for one shown line: `...` is any text; measured figures any figure.

    Measured, a figure's width changes the columns', so spaces and a table's rule match any width."""
    if not measured:
        return ".*".join(re.escape(part) for part in line.split("..."))
    pattern = []
    for token in re.finditer(rf"\.\.\.|{_FIGURE}| +|─+|.", line):
        text = token.group(0)
        if text == "...":
            pattern.append(".*")
        elif text[0] in "~0123456789":
            pattern.append(_FIGURE)
        elif text.startswith(" "):
            pattern.append(" +")
        elif text.startswith("─"):
            pattern.append("─+")  # a table's rule is as wide as its measured columns
        else:
            pattern.append(re.escape(text))
    return "".join(pattern)


def output_matches(shown: tuple[str, ...], actual: str, measured: bool = False) -> bool:
    """Whether `actual` standard output is what a document shows, line by line."""
    pattern = []
    for line in shown:
        if line.strip() == "...":
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            pattern.append(_line_pattern(line.rstrip(), measured) + r"\n")
    text = "".join(f"{line.rstrip()}\n" for line in actual.splitlines())
    return re.fullmatch("".join(pattern), text) is not None


# -- running ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with a `convprof` that runs this checkout's code."""
    bin_dir = tmp_path_factory.mktemp("bin")
    script = bin_dir / "convprof"
    script.write_text(f'#!/bin/sh\nexec {shlex.join(CONVPROF)} "$@"\n', encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def _environment(shim: Path, columns: int) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{shim}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["COLUMNS"] = str(columns)
    for name in ("GITHUB_STEP_SUMMARY", "NO_COLOR", "CONVPROF_DEBUG"):
        env.pop(name, None)
    return env


@pytest.mark.parametrize("block", _parameters())
def test_every_shown_command_runs_as_shown(block: Block, tmp_path: Path, shim: Path) -> None:
    reason = _missing(block)
    if reason:
        pytest.skip(f"{block.name}: {reason}")
    shutil.copytree(SPECS, tmp_path / "specs")
    for name, text in files_of(block.document).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    for command in block.commands:
        result = subprocess.run(
            ["bash", "-c", f"set -o pipefail\n{command.line}"],
            cwd=tmp_path,
            env=_environment(shim, command.columns),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        where = f"{block.name}: `{command.line}`"
        assert result.returncode == command.exit_code, f"{where}: exit {result.returncode}\n{result.stderr}"
        assert "Traceback" not in result.stderr, where
        if command.output is not None:
            assert output_matches(command.output, result.stdout, block.measured), (
                f"{where} prints other than shown:\n{result.stdout}"
            )


def test_the_documents_show_every_command_of_the_tour() -> None:
    """The parser finds the commands: each command of the README's tour is among them."""
    shown = [
        command.line for block in blocks() if block.document.name == "README.md" for command in block.commands
    ]
    for name in ("compare", "import", "check", "sweep", "diff", "merge"):
        assert any(line.startswith(f"convprof {name} ") for line in shown), name
    assert len(blocks()) >= 15


def test_the_output_comparison_tells_a_difference() -> None:
    shown = ("a 1.00x", "...", "z")
    assert output_matches(shown, "a 1.00x\nb\nc\nz\n")
    assert output_matches(shown, "a 1.00x\nz\n")
    assert not output_matches(shown, "a 2.00x\nz\n")
    assert not output_matches(shown, "a 1.00x\nb\n")
    assert output_matches(("a 1.00x", "z"), "a  ~2.5x\nz\n", measured=True)
    assert not output_matches(("a 1.00x", "z"), "a 2.5 ms\nz\n", measured=True)
    assert output_matches(("x  2.31 G  1 MiB",), "x  808.01 M  12 MiB\n", measured=True)
    assert output_matches(("by convprof (torch ...)",), "by convprof (torch 2.13.0+cpu)\n")


# -- the README's shape and the links ------------------------------------------------------------------------


def test_the_readme_is_a_front_door() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    shell = "\n".join("\n".join(f.lines) for f in fences(readme) if f.language in COMMAND_LANGUAGES)
    # The install and test command that CI (`.ci/run`) runs, as the README shows them.
    assert "pip install torch==2.13.0" in shell
    assert "pip install '.[test]' && python -m pytest -q" in shell
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -q torch==2.13.0 && pip install -q '.[test]'" in ci
    assert "\npython -m pytest -q" in ci


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(document: Path) -> set[str]:
    text = "\n".join(_prose(document.read_text(encoding="utf-8")))
    return {_slug(match) for match in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)}


def _prose(text: str) -> list[str]:
    """The lines of a Markdown text outside fenced blocks, with inline code removed."""
    lines = []
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(re.sub(r"`[^`]*`", "", line))
    return lines


def _links(document: Path) -> list[str]:
    text = " ".join(_prose(document.read_text(encoding="utf-8")))
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_relative_link_resolves(document: Path) -> None:
    for link in _links(document):
        if re.match(r"[a-z]+:", link):
            continue
        path, _, anchor = link.partition("#")
        target = (document.parent / path).resolve() if path else document
        assert target.exists(), f"{document.name}: {link} names no file"
        assert target.is_relative_to(ROOT), f"{document.name}: {link} leaves the repository"
        if anchor:
            assert target.suffix == ".md", link
            assert anchor in _anchors(target), f"{document.name}: {link}: no such heading"


def test_the_link_check_finds_links_and_anchors() -> None:
    readme = ROOT / "README.md"
    assert "docs/counting.md" in _links(readme)
    assert "the-classic-example" in _anchors(readme)
    assert _slug("Blocks: residual, branches, gates") == "blocks-residual-branches-gates"
