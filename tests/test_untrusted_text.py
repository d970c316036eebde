"""Strings from specs, reports and models reach no terminal, Markdown page or spreadsheet raw.

A name in a spec is an identifier: one holding a control or format character is refused where it is
written. Free text (a report read from a file, a model's message) is kept and escaped wherever it is
shown: no escape sequence reaches a terminal, no newline forges a row, no markup renders in
Markdown (checked by rendering it with a CommonMark parser), no cell of a CSV is a formula.
"""

from __future__ import annotations

import ast
import csv
import html
import io
import json
import os
import pty
import re
import subprocess
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt

from convprof.cli import cli
from convprof.commands.sources import load_spec
from convprof.render.machine import to_json
from convprof.report.analyze import analyze
from convprof.safetext import csv_text, markdown_text, printable
from tests.processes import CONVPROF
from tests.reports import environment, gpu, measured
from tests.specbuild import spec_text

#: Characters a terminal, a log viewer or a bidi-aware editor acts on, each in a string of its own.
CONTROLS = {
    "osc-title": "a\x1b]0;PWNED\x07b",
    "csi-clear": "a\x1b[2Jb",
    "carriage-return": "a\rb",
    "backspace": "a\x08b",
    "c1-csi": "a\x9b31mb",
    "bidi-override": "a\u202eb",
    "bidi-isolate": "a\u2066b",
    "nul": "a\x00b",
    "del": "a\x7fb",
    "newline": "a\nb",
    "tab": "a\tb",
    "line-separator": "a\u2028b",
    "zero-width-space": "a\u200bb",
}
#: Names a spec may hold (no control characters) that mean something to Markdown, HTML, rich's
#: markup, emoji codes or a spreadsheet.
MARKUP = {
    "html-image": "<img src=https://e.x/a.png>",
    "markdown-link": "[login](https://e.x/login)",
    "markdown-image": "![x](https://e.x/a.png)",
    "rich-link": "[link=https://e.x]x[/link]",
    "rich-style": "[bold red]x",
    "emoji-code": ":smile:",
    "emphasis": "**b** _i_ ~~s~~",
    "code": "`x`",
    "entity": "&lt;b&gt;",
    "table-row": "a | forged | row",
    "autolink": "see https://e.x or www.e.x or a@e.x",
    "formula": "=HYPERLINK(1)",
    "at-formula": "@SUM(1)",
    "backslash": "a\\b",
}


def _terminal_safe(text: str, *, markdown: bool = False) -> None:
    """Nothing in `text` but printable characters and line breaks (and, in Markdown, the no-break
    spaces that indent a block's layers)."""
    allowed = "\n\u00a0" if markdown else "\n"
    bad = sorted({f"U+{ord(c):04X}" for c in text if not c.isprintable() and c not in allowed})
    assert not bad, f"raw {', '.join(bad)} in output:\n{text}"


def _rendered(markdown: str) -> str:
    """Return the HTML a CommonMark renderer (with GitHub's tables) makes of `markdown`."""
    return MarkdownIt("commonmark").enable("table").render(markdown)


def _shows_as_text(markdown: str, *names: str) -> None:
    """Rendered, `markdown` holds no tag but the renderer's own, and each name as its text."""
    page = _rendered(markdown)
    tags = set(re.findall(r"<([a-z0-9]+)", page))
    own = {"h3", "h4", "p", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "em", "strong"}
    assert tags <= own, (tags, page)
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    for name in names:
        assert printable(name) in text, (name, page)


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def _one_error(code: int, stderr: str, *phrases: str) -> str:
    assert code == 2, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("convprof: error: "), stderr
    _terminal_safe(stderr)
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


# -- the helpers themselves -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", [*CONTROLS.values(), *MARKUP.values()])
def test_printable_escapes_every_control_and_keeps_the_rest(text: str) -> None:
    shown = printable(text)
    _terminal_safe(shown)
    assert "\n" not in shown
    assert printable(shown) == shown  # idempotent
    if "\\" not in text:  # the escapes read back as Python's give the string: nothing lost, made visible
        assert ast.literal_eval('"' + shown.replace('"', '\\"') + '"') == text


@pytest.mark.parametrize("text", [*CONTROLS.values(), *MARKUP.values()], ids=[*CONTROLS, *MARKUP])
def test_markdown_text_renders_as_the_text_itself(text: str) -> None:
    cell = markdown_text(text)
    page = f"| name |\n| --- |\n| {cell} |\n\n### {cell}\n\n- {cell}\n"
    _shows_as_text(page, text)
    assert "<a " not in _rendered(page)


def test_markdown_text_leaves_ordinary_names_alone() -> None:
    assert markdown_text("layer1.0.conv2d_1") == "layer1.0.conv2d_1"
    assert markdown_text("resnet50: input 3x224x224, batch 1, float32") == (
        "resnet50: input 3x224x224, batch 1, float32"
    )


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@A1", "=\x1b"])
def test_csv_text_never_starts_a_formula(text: str) -> None:
    shown = csv_text(text)
    assert shown.startswith("'")
    _terminal_safe(shown)


# -- names in a spec: refused where they are written ----------------------------------------------------


@pytest.mark.parametrize("control", CONTROLS.values(), ids=CONTROLS.keys())
@pytest.mark.parametrize("where", ["spec", "layer", "block"])
def test_a_name_with_a_control_character_is_refused_at_its_line(
    where: str, control: str, tmp_path: Path
) -> None:
    if where == "spec":
        text = spec_text((3, 8, 8), ["relu"], name=control)
    elif where == "layer":
        text = spec_text((3, 8, 8), [{"relu": {"name": control}}])
    else:
        text = spec_text((3, 8, 8), [{"group": {"name": control, "layers": ["relu"]}}])
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    for command in (["compare", str(path), "--no-latency"], ["check", str(path)]):
        code, stdout, stderr = _invoke(*command)
        line = _one_error(code, stderr, f"{path}:1:", "a control or format character", "an identifier")
        assert stdout == ""
        assert printable(control) in line


def test_a_file_that_is_no_spec_is_never_quoted(tmp_path: Path) -> None:
    secret = "https://user:ghp_0123456789abcdefTOKEN@git.example/repo.git"
    (tmp_path / "credentials").write_text(secret + "\n", encoding="utf-8")
    (tmp_path / "spec.yaml").symlink_to(tmp_path / "credentials")
    code, stdout, stderr = _invoke("compare", str(tmp_path / "spec.yaml"), "--no-latency")
    line = _one_error(code, stderr, "a spec is a mapping", "single string value, not a spec")
    assert "TOKEN" not in line
    assert "user" not in line
    assert stdout == ""


def test_a_long_value_is_quoted_as_a_short_excerpt(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(spec_text((3, 8, 8), "x" * 500 + "SECRET"), encoding="utf-8")
    code, _, stderr = _invoke("compare", str(path), "--no-latency")
    line = _one_error(code, stderr, "`layers` must be a list of layers")
    assert "SECRET" not in line
    assert "x" * 60 not in line


# -- names Markdown, HTML, rich or a spreadsheet would interpret: shown as text ----------------------------


@pytest.mark.parametrize("name", MARKUP.values(), ids=MARKUP.keys())
def test_compare_shows_a_name_as_text_in_every_format(name: str, tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    layer = name.replace(".", "_")  # a layer name holds no dot
    path.write_text(spec_text((3, 8, 8), [{"relu": {"name": layer}}], name=name), encoding="utf-8")
    code, table, stderr = _invoke("compare", str(path), "--no-latency", "--layers")
    assert code == 0, stderr
    _terminal_safe(table)
    assert table.splitlines()[0].startswith(f"{name}: input 3x8x8")  # as written, no markup applied
    assert f"0  {layer}" in table
    code, markdown, stderr = _invoke("compare", str(path), "--no-latency", "--layers", "--format", "markdown")
    assert code == 0, stderr
    _terminal_safe(markdown, markdown=True)
    _shows_as_text(markdown, name, layer)
    code, text, stderr = _invoke("compare", str(path), "--no-latency", "--layers", "--format", "csv")
    assert code == 0, stderr
    for row in list(csv.reader(io.StringIO(text)))[1:]:
        assert row[0] == csv_text(name)
        assert row[3] == csv_text(layer)  # spec, variant, index, path
        assert not any(cell.startswith(("=", "+", "@")) for cell in row)


@pytest.mark.parametrize("name", MARKUP.values(), ids=MARKUP.keys())
def test_check_shows_a_spec_name_as_text(name: str, tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(spec_text((3, 8, 8), ["relu"], name=name), encoding="utf-8")
    summary = tmp_path / "summary.md"
    result = CliRunner().invoke(
        cli, ["check", str(path), "--format", "markdown"], env={"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert result.exit_code == 0, result.output
    _terminal_safe(result.stdout + result.stderr)
    assert f"convprof: warning: {name}: no budgets set, NOTHING CHECKED" in result.stderr
    _shows_as_text(result.stdout, name)
    _shows_as_text(summary.read_text(encoding="utf-8"), name)
    result = CliRunner().invoke(cli, ["check", str(path), "--max-params", "1k", "--format", "markdown"])
    assert result.exit_code == 0, result.output
    _shows_as_text(result.stdout, name)


def test_a_name_is_never_markup_on_a_terminal(tmp_path: Path) -> None:
    # On a terminal rich would have made `[link=...]` a hyperlink (OSC 8) and `:smile:` an emoji.
    path = tmp_path / "spec.yaml"
    name = "[link=https://e.x]x[/link] :smile: [bold]y"
    path.write_text(spec_text((3, 8, 8), ["relu"], name=name), encoding="utf-8")
    main, secondary = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [*CONVPROF, "compare", str(path), "--no-latency", "--no-layers"],
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode())  # the table's own colours
    assert "\x1b]8;" not in shown
    assert "\U0001f604" not in shown
    assert name in shown


# -- strings read from report files: escaped in diff, merge and check --baseline -------------------------


def _report_with(tmp_path: Path, file: str, text: str) -> Path:
    """A lenet5 report whose spec name, description, a layer's path and kind hold `text`."""
    report = analyze(load_spec("lenet5"), "adam")
    report = replace(report, spec=replace(report.spec, name="lenet5" + text, description=text))
    variants = []
    for variant in report.variants:
        first = replace(variant.layers[0], path="c1" + text, kind=variant.layers[0].kind + text)
        peak = variant.training_peak
        assert peak is not None
        # The training step's peak names the layers that made what it holds: c1 is renamed there too.
        tensors = tuple(replace(t, layer="c1" + text) if t.layer == "c1" else t for t in peak.tensors)
        peak = replace(peak, layer="c1" + text if peak.layer == "c1" else peak.layer, tensors=tensors)
        variants.append(replace(variant, layers=(first, *variant.layers[1:]), training_peak=peak))
    path = tmp_path / file
    path.write_text(to_json(replace(report, variants=tuple(variants))), encoding="utf-8")
    return path


@pytest.mark.parametrize("text", [*CONTROLS.values(), *MARKUP.values()], ids=[*CONTROLS, *MARKUP])
def test_diff_escapes_what_a_report_file_holds(text: str, tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text(to_json(analyze(load_spec("lenet5"), "adam")), encoding="utf-8")
    new = _report_with(tmp_path, "new.json", text)
    code, table, stderr = _invoke("diff", str(old), str(new))
    assert code == 0, stderr
    _terminal_safe(table + stderr)
    assert printable("c1" + text) in table
    code, markdown, stderr = _invoke("diff", str(old), str(new), "--format", "markdown")
    assert code == 0, stderr
    _terminal_safe(markdown)
    _shows_as_text(markdown, "c1" + text, "lenet5" + text)
    code, data, _ = _invoke("diff", str(old), str(new), "--format", "json")
    assert code == 0
    _terminal_safe(data)
    assert ("c1" + text) in {layer["path"] for layer in json.loads(data)["variants"]["conv"]["layers"]}


@pytest.mark.parametrize("text", [*CONTROLS.values(), *MARKUP.values()], ids=[*CONTROLS, *MARKUP])
def test_merge_escapes_what_a_report_file_holds(text: str, tmp_path: Path) -> None:
    report = analyze(load_spec("lenet5"), "adam")
    report = replace(report, spec=replace(report.spec, name="lenet5" + text))
    paths = []
    for index, where in enumerate(
        [
            environment("CPU" + text, 1, "2.13.0" + text),
            environment("Xeon", 4, "2.13.0", [gpu("cuda:0" + text, "H100" + text)]),
        ]
    ):
        devices = ["cpu", *(g.device for g in where.cuda)]
        medians = {v: dict.fromkeys(devices, 1.0 + index) for v in ("dense", "local", "conv")}
        path = tmp_path / f"{index}.json"
        path.write_text(to_json(measured(report, medians, where)), encoding="utf-8")
        paths.append(str(path))
    code, table, stderr = _invoke("merge", *paths)
    assert code == 0, stderr
    _terminal_safe(table + stderr)
    assert "CPU" in table
    assert "H100" in table
    code, markdown, stderr = _invoke("merge", *paths, "--format", "markdown")
    assert code == 0, stderr
    _terminal_safe(markdown)
    _shows_as_text(markdown, "CPU" + text, "H100" + text, "cuda:0" + text, "lenet5" + text)


@pytest.mark.parametrize("text", CONTROLS.values(), ids=CONTROLS.keys())
def test_check_baseline_messages_escape_a_report_file(text: str, tmp_path: Path) -> None:
    baseline = _report_with(tmp_path, "baseline.json", text)
    args = ("check", "lenet5", "--baseline", str(baseline), "--max-growth", "params=0%")
    code, stdout, stderr = _invoke(*args)
    line = _one_error(code, stderr, "is for spec")
    assert printable("lenet5" + text) in line
    assert stdout == ""


# -- a model's own words -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_models_exception_message_is_escaped(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(
        textwrap.dedent(
            """
            def net():
                raise RuntimeError("boom \\x1b]0;PWNED\\x07 \\u202e done\\nsecond line")
            """
        ),
        encoding="utf-8",
    )
    process = subprocess.run(
        [*CONVPROF, "import", "net.py:net", "--input", "3x8x8"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    line = _one_error(process.returncode, process.stderr, "calling net raised RuntimeError: boom")
    assert "\\x1b]0;PWNED\\x07 \\u202e done" in line
    assert "second line" not in line


@pytest.mark.slow
def test_imported_module_names_are_refused_or_shown_as_text(tmp_path: Path) -> None:
    # torch takes any module name without a dot: an imported spec's names come from the model's code.
    (tmp_path / "net.py").write_text(
        textwrap.dedent(
            """
            import torch

            def controls():
                net = torch.nn.Sequential()
                net.add_module("conv\\x1b]0;PWNED\\x07", torch.nn.Conv2d(3, 4, 3))
                return net

            def markup():
                net = torch.nn.Sequential()
                net.add_module("[login](https:__e_x)", torch.nn.Conv2d(3, 4, 3))
                net.add_module("<img src=x>", torch.nn.ReLU())
                return net
            """
        ),
        encoding="utf-8",
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CONVPROF, *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    refused = run("import", "net.py:controls", "--input", "3x8x8")
    line = _one_error(refused.returncode, refused.stderr, "<import:net.py:controls>:", "an identifier")
    assert "'conv\\x1b]0;PWNED\\x07'" in line
    shown = run(
        "compare", "net.py:markup", "--input", "3x8x8", "--no-latency", "--layers", "--format", "markdown"
    )
    assert shown.returncode == 0, shown.stderr
    _shows_as_text(shown.stdout, "[login](https:__e_x)", "<img src=x>")
