"""The documented GitHub Action and pre-commit hook (docs/ci.md), run with the commands they contain."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, SPECS
from tests.processes import CONVPROF

BUDGETED = """\
name: budgeted
input: [1, 28, 28]
budgets:
  params: 30k
  activation_bytes: 64KiB
layers:
  - conv2d: {out_channels: 4, kernel_size: 5, name: c1}
  - relu
  - flatten
  - linear: {out_features: 10, name: fc}
"""


#: The repository's CI integration: the action, its script, the workflow that uses it, pre-commit.
ACTION = ROOT / "action.yml"
SCRIPT = ROOT / "action.sh"
WORKFLOW = ROOT / ".github" / "workflows" / "convprof.yml"
LOCAL_HOOKS = ROOT / ".pre-commit-config.yaml"


def _yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _ci_section() -> str:
    """The CI page's sections on the GitHub Action and pre-commit."""
    page = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    return page.split("\n## GitHub Actions", 1)[1]


def _table(section: str, first_header: str) -> list[str]:
    """The first column of the Markdown table in `section` whose header starts with `first_header`."""
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line.split("|")[1].strip().strip("`"))
    return rows


def test_the_ci_page_documents_exactly_the_actions_inputs_and_outputs() -> None:
    action = _yaml(ACTION)
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) >= {"specs", "budgets", "baseline", "fail-on"}
    assert {"report", "comment"} <= set(action["outputs"])
    section = _ci_section()
    assert _table(section, "input") == list(action["inputs"])
    assert _table(section, "output") == list(action["outputs"])
    for name, spec in action["inputs"].items():
        default = _table_defaults(section)[name]
        assert default == (spec["default"] or "none"), name


def _table_defaults(section: str) -> dict[str, str]:
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| input |"))
    defaults = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip().strip("`") for cell in line.split("|")[1:-1]]
        defaults[cells[0]] = cells[1]
    return defaults


def test_the_ci_section_names_only_files_that_exist() -> None:
    section = _ci_section()
    named = set(re.findall(r"`(\.?[\w./-]+\.(?:yml|yaml|sh))`", section))
    files = {name for name in named if "/" in name or name.startswith((".", "action."))}
    files -= {name for name in files if name.startswith("specs/")}  # a spec glob's directory, not a file
    assert files >= {"action.yml", "action.sh", ".github/workflows/convprof.yml", ".pre-commit-config.yaml"}
    assert ".pre-commit-hooks.yaml" in files
    for name in files:
        assert (ROOT / name).is_file(), name
    for page in (ROOT / "README.md", ROOT / "docs" / "ci.md", ROOT / "docs" / "install.md"):
        text = page.read_text(encoding="utf-8")
        assert "YOUR-ORG" not in text, page.name
        assert "pip install convprof" not in text, page.name  # convprof is not on PyPI


def test_the_action_runs_its_script_and_the_workflow_runs_the_action() -> None:
    steps = _yaml(ACTION)["runs"]["steps"]
    assert any('bash "$GITHUB_ACTION_PATH/action.sh"' in step["run"] for step in steps)
    assert all(step.get("shell") == "bash" for step in steps)
    (job,) = _yaml(WORKFLOW)["jobs"].values()
    (step,) = [step for step in job["steps"] if step.get("uses") == "./"]
    assert set(step["with"]) <= set(_yaml(ACTION)["inputs"])
    assert step["with"]["specs"] == "specs/*.yaml"
    assert step["with"]["baseline"] == "baseline"
    uploads = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert uploads[0]["with"]["path"] == "${{ steps.convprof.outputs.reports }}"


@pytest.fixture
def shim(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH has a `convprof` that runs this checkout's code."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "convprof"
    script.write_text(f'#!/bin/sh\nexec {shlex.join(CONVPROF)} "$@"\n', encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(ROOT)
    env.pop("GITHUB_STEP_SUMMARY", None)
    return env


def _repository(tmp_path: Path, budget: str = "30k") -> Path:
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    for spec in SPECS.glob("*.yaml"):
        shutil.copy(spec, repo / "specs" / spec.name)
    (repo / "specs" / "budgeted.yaml").write_text(BUDGETED.replace("30k", budget), encoding="utf-8")
    return repo


def _action(
    repo: Path, env: dict[str, str], out: Path, **inputs: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run action.sh in `repo` as the action's step does, its outputs read back from GITHUB_OUTPUT."""
    outputs = out / "outputs.txt"
    variables = {f"CONVPROF_{key.upper()}": value for key, value in inputs.items()}
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=repo,
        env=env | variables | {"GITHUB_OUTPUT": str(outputs), "CONVPROF_OUTPUT_DIR": str(out / "convprof")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = outputs.read_text(encoding="utf-8").splitlines() if outputs.exists() else []
    return result, dict(line.split("=", 1) for line in lines)


@pytest.mark.slow
def test_the_action_on_main_then_on_a_pull_request(tmp_path: Path, shim: dict[str, str]) -> None:
    import jsonschema

    from convprof.render.schemas import check_schema

    repo = _repository(tmp_path)
    summary = tmp_path / "summary.md"
    env = shim | {"GITHUB_STEP_SUMMARY": str(summary)}
    # On main: no baseline yet (growth skipped, with a notice); the reports become the artifact.
    main, outputs = _action(repo, env, tmp_path / "main", baseline="baseline", budgets="params=200M")
    assert main.returncode == 0, main.stderr
    assert "no baseline at baseline yet; growth is not checked this time" in main.stderr
    assert outputs["passed"] == "true"
    assert outputs["exit-code"] == "0"
    checks = json.loads(Path(outputs["report"]).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(check_schema()).validate(checks)
    specs = sorted(path.stem for path in (repo / "specs").glob("*.yaml"))
    assert sorted(row["spec"] for row in checks["checks"] if row["metric"] == "params") == specs
    reports = sorted(path.stem for path in Path(outputs["reports"]).iterdir())
    assert reports == specs
    written = summary.read_text(encoding="utf-8")
    assert written.startswith("### convprof check: passed")
    comment = Path(outputs["comment"]).read_text(encoding="utf-8")
    assert comment == "<!-- convprof -->\n" + Path(outputs["summary"]).read_text(encoding="utf-8")
    # On a pull request: main's reports are the baseline; growth and each spec's diff.
    shutil.copytree(outputs["reports"], repo / "baseline")
    summary.write_text("", encoding="utf-8")
    pr, outputs = _action(repo, env, tmp_path / "pr", baseline="baseline")
    assert pr.returncode == 0, pr.stderr
    text = summary.read_text(encoding="utf-8")
    assert "| budgeted | params | growth | +0% of 23,154 |" in text
    assert "### convprof diff: budgeted" in text
    assert "No change." in text
    assert Path(outputs["comment"]).read_text(encoding="utf-8").count("### convprof diff: ") == len(specs)


@pytest.mark.slow
@pytest.mark.parametrize(("fail_on", "status"), [("exceeded", 1), ("unverified", 1), ("never", 0)])
def test_the_action_fails_on_growth_unless_asked_not_to(
    tmp_path: Path, shim: dict[str, str], fail_on: str, status: int
) -> None:
    repo = _repository(tmp_path)
    first, outputs = _action(repo, shim, tmp_path / "main")
    assert first.returncode == 0, first.stderr
    shutil.copytree(outputs["reports"], repo / "baseline")
    spec = repo / "specs" / "budgeted.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("out_features: 10", "out_features: 11"))
    grown, outputs = _action(
        repo, shim, tmp_path / "pr", baseline="baseline", fail_on=fail_on, specs="specs/budgeted.yaml"
    )
    assert grown.returncode == status, grown.stderr
    assert (outputs["passed"], outputs["exit-code"]) == ("false", "1")
    assert "budgeted: params grew to" in grown.stderr


def test_the_action_with_fail_on_unverified_refuses_a_spec_with_nothing_checked(
    tmp_path: Path, shim: dict[str, str]
) -> None:
    repo = _repository(tmp_path)
    lenient, outputs = _action(repo, shim, tmp_path / "a", specs="specs/lenet5.yaml")
    assert lenient.returncode == 0
    assert outputs["passed"] == "true"
    assert "NOTHING CHECKED" in lenient.stderr
    strict, outputs = _action(repo, shim, tmp_path / "b", specs="specs/lenet5.yaml", fail_on="unverified")
    assert strict.returncode == 2
    assert "--require-budgets: lenet5 sets no budgets" in strict.stderr
    assert outputs == {}  # a usage error: nothing to report


def test_the_action_passes_each_input_to_the_cli_as_written(tmp_path: Path) -> None:
    # A stand-in for convprof that records its arguments: the script's mapping, exactly.
    record = tmp_path / "argv.txt"
    fake = tmp_path / "fake-convprof"
    fake.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" >> "{record}"\necho ---- >> "{record}"\n', encoding="utf-8"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "base.json").write_text("{}", encoding="utf-8")
    env = dict(os.environ) | {"CONVPROF": str(fake)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    result, outputs = _action(
        tmp_path,
        env,
        tmp_path,
        specs="specs/*.yaml\nnet.yaml",
        budgets="params=100k, latency_ms.cpu=5,training_latency_ms.cuda=40,training_bytes=1GiB",
        baseline="base.json",
        max_growth="macs=5%",
    )
    assert result.returncode == 0, result.stderr
    calls = record.read_text(encoding="utf-8").split("----\n")
    out = str(tmp_path / "convprof")
    assert calls[0].splitlines() == [
        "check",
        "specs/*.yaml",  # a glob stays one argument, for convprof to expand
        "net.yaml",
        "--format",
        "json",
        "-o",
        f"{out}/checks.json",
        "--write-reports",
        f"{out}/reports",
        "--max-params",
        "100k",
        "--max-latency",
        "cpu=5",
        "--max-training-latency",
        "cuda=40",
        "--max-training-bytes",
        "1GiB",
        "--baseline",
        "base.json",
        "--max-growth",
        "macs=5%",
    ]
    assert outputs["report"] == f"{out}/checks.json"


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"fail_on": "sometimes"}, "fail-on must be exceeded, unverified or never, not 'sometimes'"),
        ({"budgets": "params"}, "budgets: write METRIC=LIMIT, e.g. params=100k, not 'params'"),
        ({"specs": " "}, "specs is empty"),
    ],
)
def test_bad_action_inputs_are_one_line_and_exit_2(
    tmp_path: Path, shim: dict[str, str], inputs: dict[str, str], message: str
) -> None:
    result, outputs = _action(tmp_path, shim, tmp_path, **inputs)
    assert result.returncode == 2
    assert result.stderr.startswith(f"convprof action: error: {message}")
    assert result.stderr.count("\n") == 1
    assert outputs == {}


def _hook() -> dict[str, Any]:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = hooks
    assert isinstance(hook, dict)
    assert hook["id"] == "convprof-check"
    assert hook["language"] == "python"
    return hook


def _local_hook() -> dict[str, Any]:
    (repo,) = _yaml(LOCAL_HOOKS)["repos"]
    assert repo["repo"] == "local"
    (hook,) = repo["hooks"]
    assert isinstance(hook, dict)
    return hook


def test_the_documented_local_hook_is_the_repositorys() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", _ci_section(), flags=re.DOTALL)
    (local,) = [yaml.safe_load(block) for block in blocks if "repo: local" in block]
    assert local == _yaml(LOCAL_HOOKS)
    hook = _local_hook()
    assert (hook["id"], hook["entry"], hook["files"]) == (
        "convprof-check",
        "convprof check",
        _hook()["files"],
    )


@pytest.mark.parametrize("which", ["remote", "local"])
@pytest.mark.parametrize(("budget", "expected"), [("30k", 0), ("23153", 1)])
def test_pre_commit_hook_checks_changed_specs(
    tmp_path: Path, shim: dict[str, str], budget: str, expected: int, which: str
) -> None:
    hook = _hook() if which == "remote" else _local_hook()
    repo = _repository(tmp_path, budget)
    changed = ["specs/budgeted.yaml", "specs/lenet5.yaml", ".github/workflows/convprof.yml", "README.md"]
    files = [f for f in changed if re.search(hook["files"], f)]
    assert files == ["specs/budgeted.yaml", "specs/lenet5.yaml"]
    result = subprocess.run(
        [*hook["entry"].split(), *files], cwd=repo, env=shim, capture_output=True, text=True, check=False
    )
    assert result.returncode == expected, result.stderr
    assert "budgeted" in result.stdout
