"""The README's GitHub Actions workflow and the pre-commit hook, run with the commands they contain."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, SPECS

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


def _workflow() -> dict[str, Any]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use in CI", 1)[1]
    blocks = re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    workflows = [yaml.safe_load(b) for b in blocks if "jobs:" in b]
    assert len(workflows) == 1
    workflow = workflows[0]
    assert isinstance(workflow, dict)
    return workflow


@pytest.fixture
def shim(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH has a `convprof` that runs this checkout's code."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "convprof"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m convprof "$@"\n', encoding="utf-8")
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


def _convprof_steps(workflow: dict[str, Any]) -> list[str]:
    (job,) = workflow["jobs"].values()
    return [step["run"] for step in job["steps"] if "run" in step and "convprof " in step["run"]]


def _run_steps(repo: Path, env: dict[str, str], summary: Path) -> None:
    for script in _convprof_steps(_workflow()):
        result = subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=repo,
            env=env | {"GITHUB_STEP_SUMMARY": str(summary)},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"


def test_readme_workflow_runs_on_main_then_on_a_pull_request(tmp_path: Path, shim: dict[str, str]) -> None:
    workflow = _workflow()
    assert set(workflow) >= {"name", "jobs"}
    assert any("install" in str(step).lower() for step in next(iter(workflow["jobs"].values()))["steps"])
    repo = _repository(tmp_path)
    # On main: no baseline yet; the reports become the artifact.
    main_summary = tmp_path / "main.md"
    _run_steps(repo, shim, main_summary)
    assert "### convprof check: passed" in main_summary.read_text(encoding="utf-8")
    reports = sorted(p.name for p in (repo / "reports").iterdir())
    assert "budgeted.json" in reports
    assert len(reports) == len(list((repo / "specs").glob("*.yaml")))
    # On a pull request: the artifact is downloaded to baseline/ (gh run download), then compared.
    shutil.move(repo / "reports", repo / "baseline")
    pr_summary = tmp_path / "pr.md"
    _run_steps(repo, shim, pr_summary)
    text = pr_summary.read_text(encoding="utf-8")
    assert "| budgeted | params | growth |" in text
    assert "### convprof diff: budgeted" in text
    assert "No change." in text


def test_readme_workflow_fails_on_growth(tmp_path: Path, shim: dict[str, str]) -> None:
    repo = _repository(tmp_path)
    _run_steps(repo, shim, tmp_path / "main.md")
    shutil.move(repo / "reports", repo / "baseline")
    spec = repo / "specs" / "budgeted.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("out_features: 10", "out_features: 11"))
    check = next(s for s in _convprof_steps(_workflow()) if "convprof check" in s)
    result = subprocess.run(["bash", "-e", "-c", check], cwd=repo, env=shim, capture_output=True, text=True)
    assert result.returncode == 1
    assert "budgeted: params grew to" in result.stderr


def _hook() -> dict[str, Any]:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = hooks
    assert isinstance(hook, dict)
    assert hook["id"] == "convprof-check"
    assert hook["language"] == "python"
    return hook


@pytest.mark.parametrize(("budget", "expected"), [("30k", 0), ("23153", 1)])
def test_pre_commit_hook_checks_changed_specs(
    tmp_path: Path, shim: dict[str, str], budget: str, expected: int
) -> None:
    hook = _hook()
    repo = _repository(tmp_path, budget)
    changed = ["specs/budgeted.yaml", "specs/lenet5.yaml", ".github/workflows/convprof.yml", "README.md"]
    files = [f for f in changed if re.search(hook["files"], f)]
    assert files == ["specs/budgeted.yaml", "specs/lenet5.yaml"]
    result = subprocess.run(
        [*hook["entry"].split(), *files], cwd=repo, env=shim, capture_output=True, text=True, check=False
    )
    assert result.returncode == expected, result.stderr
    assert "budgeted" in result.stdout
