"""Saved JSON reports read back for baselines, diffs and merges, with clear messages when they are not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from convprof.errors import UsageError
from convprof.report import SCHEMA_VERSION
from convprof.variants import VARIANTS

__all__ = ["MAX_REPORT_BYTES", "load_report"]

#: Largest report read; a 10,000-layer report is a few MB.
MAX_REPORT_BYTES = 256 * 1024 * 1024


def load_report(path: Path) -> dict[str, Any]:
    """Read a report written by `convprof compare --format json`; UsageError when it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no such file; give a report from `convprof compare --format json`"
        ) from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory; give a JSON report file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{path}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg}); "
            "give a report from `convprof compare --format json`"
        ) from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise UsageError(f"{path}: not a convprof report (no schema_version)")
    version = data["schema_version"]
    if version != SCHEMA_VERSION:
        raise UsageError(
            f"{path}: report schema_version {version!r}, this convprof reads {SCHEMA_VERSION}; "
            "regenerate it with this version"
        )
    variants = data.get("variants")
    spec = data.get("spec")
    if (
        not isinstance(spec, dict)
        or not isinstance(spec.get("name"), str)
        or not isinstance(variants, dict)
        or any(not isinstance(variants.get(v), dict) for v in VARIANTS)
    ):
        raise UsageError(
            f"{path}: not a convprof report (needs spec.name and variants {', '.join(VARIANTS)})"
        )
    return data
