"""Saved JSON reports read back as typed Reports for baselines, diffs and merges, with clear messages."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from convprof.errors import UsageError
from convprof.inputs import NotAFile, read_limited
from convprof.report import READABLE_SCHEMA_VERSIONS, SCHEMA_VERSION, Report, ReportDataError
from convprof.report.jsoncheck import (
    MAX_DEPTH,
    Checker,
    Violation,
    compile_schema,
    deep_position,
    find_unsafe,
    loads,
    locate,
)
from convprof.report.schema import MAX_SAMPLES, report_schema
from convprof.spec import MAX_NODES
from convprof.units import clip

__all__ = ["MAX_REPORT_BYTES", "MAX_REPORT_VALUES", "load_report"]

#: Largest report read: a 10,000-layer report is 7.7 MB, and a spec has at most 20,000 layers.
MAX_REPORT_BYTES = 64 * 1024 * 1024
#: Most values (numbers, strings, lists, objects) a report may hold, counted by the commas between
#: them before anything is parsed: 20,000 layers in each of three variants are about 1.3 million,
#: and every measurement's samples well under one more. Parsing more would take memory without bound
#: (100 MB of latency samples grew to 3.7 GB), so more is refused unparsed.
MAX_REPORT_VALUES = 2_000_000


def load_report(path: Path) -> Report:
    """Read a report written by `convprof compare --format json`; UsageError when it is not one.

    The whole report is checked against `convprof schema` first (its messages say where the file is
    wrong), then read into the typed Report by `Report.from_dict`, the inverse of `to_dict`.
    """
    try:
        # Only a regular file, looked at before it is opened: an oversized one is refused unread,
        # and a FIFO (which would wait for a writer) or a device unopened.
        raw = read_limited(path, MAX_REPORT_BYTES)
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no such file; give a report from `convprof compare --format json`"
        ) from None
    except NotAFile as exc:
        if exc.kind == "a directory":
            raise UsageError(f"{path}: is a directory; give a JSON report file") from None
        raise UsageError(f"{path}: is {exc.kind}, not a regular file; give a JSON report file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if raw is None:
        raise UsageError(f"{path}: larger than {MAX_REPORT_BYTES // 2**20} MiB; not a convprof report")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line, column = before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1
        raise UsageError(
            f"{path}:{line}:{column}: byte 0x{raw[exc.start]:02x} is not valid UTF-8; "
            "give a report from `convprof compare --format json`"
        ) from None
    separators = text.count(",")  # in C, without a copy: an upper bound on the values it holds
    if separators >= MAX_REPORT_VALUES:
        raise UsageError(
            f"{path}: holds more than {MAX_REPORT_VALUES:,} values; a convprof report has at most "
            f"{MAX_NODES:,} layers a variant and {MAX_SAMPLES:,} samples a measurement"
        )
    try:
        data = loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{path}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg}); "
            "give a report from `convprof compare --format json`"
        ) from None
    except RecursionError:  # nested past what Python's reader can follow
        offset = deep_position(text)
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        raise UsageError(
            f"{path}:{line}:{column}: not a convprof report: nested deeper than {MAX_DEPTH} levels"
        ) from None
    unsafe = find_unsafe(data)
    if unsafe is not None:
        raise UsageError(
            f"{path}{_position(text, unsafe.path)}: not a convprof report: {unsafe.dotted}: {unsafe.message}"
        )
    if not isinstance(data, dict) or "schema_version" not in data:
        raise UsageError(
            f"{path}:1:1: not a convprof report (no schema_version); "
            "give a report from `convprof compare --format json`"
        )
    if data.get("kind") == "sweep":
        raise UsageError(
            f"{path}:1:1: a sweep report; diff, merge and check --baseline read reports of "
            "`convprof compare --format json`"
        )
    version = data["schema_version"]
    # bool is an int to Python, and 3.0 == 3: only the integers themselves are versions.
    if type(version) is not int or version not in READABLE_SCHEMA_VERSIONS:
        shown = clip(repr(version), quoted=False)
        readable = " and ".join(map(str, READABLE_SCHEMA_VERSIONS))
        raise UsageError(
            f"{path}{_position(text, ('schema_version',))}: report schema_version {shown}, "
            f"this convprof reads {readable}; regenerate it with this version"
        )
    violation = _report_check(version)(data)
    if violation is not None:
        raise UsageError(
            f"{path}{_position(text, violation.path)}: not a valid report: {violation.dotted}: "
            f"{violation.message}; regenerate it with `convprof compare --format json`"
        )
    try:
        return Report.from_dict(data)
    except ReportDataError as exc:
        where = Violation(exc.path, exc.message)
        raise UsageError(
            f"{path}{_position(text, where.path)}: not a valid report: {where.dotted}: "
            f"{where.message}; regenerate it with `convprof compare --format json`"
        ) from None


@functools.cache
def _report_check(version: int = SCHEMA_VERSION) -> Checker:
    return compile_schema(report_schema(version))


def _position(text: str, path: tuple[str | int, ...]) -> str:
    line, column = locate(text, path)
    return f":{line}:{column}"
