"""torchvision models as model references for the import benchmarks: `benchmarks/zoo.py:resnet50`.

torchvision's model code is loaded as tests/torchvision_code.py does (`import torchvision` fails on a
CPU-only torch here); each name below builds torchvision's model of that name.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.torchvision_code import builder

__all__ = ["resnet50"]


def resnet50() -> Any:
    """Return torchvision's ResNet-50."""
    build = builder("resnet", "resnet50")
    if isinstance(build, str):
        raise SystemExit(build)
    return build()
