"""Without torch installed: counting works exactly as before; measuring says in one line how to get it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from convprof.torchdep import TORCH_INSTALL
from tests.conftest import ROOT
from tests.processes import CONVPROF

#: Runs convprof's console entry point in a process where `import torch` fails as if torch were not
#: installed: a meta-path finder ahead of all others refuses it (and its submodules).
_WITHOUT_TORCH = """\
import sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoTorch())
sys.argv = ["convprof", *sys.argv[1:]]
from convprof.cli import main
main()
"""


def _convprof(*args: str, torch: bool) -> subprocess.CompletedProcess[str]:
    """Run convprof without torch (a new interpreter whose `import torch` fails), or with it (a child
    of the fork server, torch already imported)."""
    command = [sys.executable, "-c", _WITHOUT_TORCH] if not torch else CONVPROF
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=120
    )


def test_the_blocker_really_hides_torch() -> None:
    code = _WITHOUT_TORCH.replace("from convprof.cli import main\nmain()\n", "import torch\n")
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert process.returncode == 1
    assert "ModuleNotFoundError: No module named 'torch'" in process.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("compare", "lenet5", "--no-latency", "--format", "json"),
        ("compare", "vgg16", "--no-latency"),
        ("compare", "resnet50", "--no-latency", "--format", "html"),
        ("sweep", "why_convolutions", "--resolution", "16,32", "--format", "html"),
        ("check", "lenet5", "--max-params", "61706", "--format", "json"),
        ("sweep", "why_convolutions", "--resolution", "16,32", "--format", "json"),
        ("examples",),
        ("schema", "check"),
    ],
)
def test_counting_works_exactly_as_with_torch(args: tuple[str, ...]) -> None:
    without = _convprof(*args, torch=False)
    assert without.returncode == 0, without.stderr
    with_torch = _convprof(*args, torch=True)
    assert without.stdout == with_torch.stdout
    assert without.stderr == with_torch.stderr


@pytest.mark.parametrize(
    ("args", "instead"),
    [
        (("compare", "why_convolutions"), "--no-latency"),
        (("check", "lenet5", "--max-latency", "cpu=5"), "size budgets alone need no torch"),
        (("check", "lenet5", "--latency"), "size budgets alone need no torch"),
        (("sweep", "why_convolutions", "--resolution", "16,32", "--latency"), "counts without torch"),
        (("calibrate",), ""),
    ],
)
def test_measuring_says_how_to_install_torch(args: tuple[str, ...], instead: str) -> None:
    process = _convprof(*args, torch=False)
    assert process.returncode == 2
    assert process.stdout == ""
    lines = process.stderr.splitlines()
    assert len(lines) == 1, process.stderr  # one line, never a traceback
    assert lines[0].startswith("convprof: error: ")
    assert "needs torch, which is not installed: " + TORCH_INSTALL in lines[0]
    assert instead in lines[0]


#: A model file a new user writes first.
MODEL_FILE = """\
import torch.nn as nn


def net():
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 30 * 30, 10))
"""


@pytest.mark.parametrize(
    "args",
    [
        ("import", "mynet.py:net", "--input", "3x32x32"),
        ("compare", "mynet.py:net", "--input", "3x32x32", "--no-latency"),
        ("check", "mynet.py:net", "--input", "3x32x32", "--max-params", "1M"),
        ("sweep", "mynet.py:net", "--input", "3x32x32,3x64x64"),
    ],
)
def test_importing_a_model_without_torch_says_how_to_install_it(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    (tmp_path / "mynet.py").write_text(MODEL_FILE, encoding="utf-8")
    command = [sys.executable, "-c", _WITHOUT_TORCH, *args]
    process = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, stdin=subprocess.DEVNULL, timeout=120
    )
    assert (process.returncode, process.stdout) == (2, "")
    assert process.stderr == (
        "convprof: error: importing a PyTorch model needs torch, which is not installed: "
        f"{TORCH_INSTALL}; a saved spec counts without it\n"
    )


def test_a_missing_model_file_is_named_before_torch_is_asked_for(tmp_path: Path) -> None:
    command = [sys.executable, "-c", _WITHOUT_TORCH, "import", "nosuch.py:net", "--input", "3x32x32"]
    process = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert process.returncode == 2
    assert process.stderr == (
        "convprof: error: nosuch.py:net: nosuch.py does not exist; give the path of the model's Python file\n"
    )


#: A spec as `convprof import --allow-unknown` writes one: opaque nodes are data like any layer.
OPAQUE_SPEC = """\
name: opaque_net
input: [3, 8, 8]
layers:
  - conv2d: {name: conv, out_channels: 8, kernel_size: 3, padding: 1}
  - flatten: {name: flatten, start_dim: 2}
  - opaque:
      name: attn
      op: torch.nn.MultiheadAttention
      input_shapes: [[8, 64]]
      output_shape: [8, 64]
      params: 16640
  - flatten: {name: flatten_1}
  - linear: {name: fc, out_features: 10}
"""


@pytest.mark.slow
def test_a_spec_with_opaque_nodes_counts_and_checks_without_torch(tmp_path: Path) -> None:
    spec = tmp_path / "opaque_net.yaml"
    spec.write_text(OPAQUE_SPEC, encoding="utf-8")
    report = _convprof("compare", str(spec), "--no-latency", "--format", "json", torch=False)
    assert report.returncode == 0, report.stderr
    conv = json.loads(report.stdout)["variants"]["conv"]
    every = ["macs", "flops", "backward_flops", "training_flops", "elementwise_ops"]
    every += ["saved_activation_bytes", "optimizer_bytes", "training_bytes"]  # it holds parameters
    assert (conv["unknown_ops"], conv["lower_bounds"]) == (1, every)
    for args in (
        ("compare", str(spec), "--no-latency", "--format", "json"),
        ("compare", str(spec), "--no-latency"),
        ("check", str(spec), "--max-macs", "1G", "--max-params", "30k"),
        ("sweep", str(spec), "--batch-size", "1,2", "--format", "csv"),
    ):
        without = _convprof(*args, torch=False)
        assert without.returncode == 0, without.stderr
        with_torch = _convprof(*args, torch=True)
        assert (without.stdout, without.stderr) == (with_torch.stdout, with_torch.stderr)
