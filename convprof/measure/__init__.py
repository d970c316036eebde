"""Measured latency and memory of a report's variants; torch is imported only when measuring."""

from __future__ import annotations

from typing import TYPE_CHECKING

from convprof.measure.options import MeasureOptions

if TYPE_CHECKING:
    from convprof.report import Report
    from convprof.spec import ModelSpec

__all__ = ["MeasureOptions", "measure_report"]


def measure_report(
    spec: ModelSpec, report: Report, options: MeasureOptions, *, progress: bool = False
) -> Report:
    """Return `report` with every variant's latency and memory measured and the environment recorded.

    `spec` must be the spec `report` was analysed from (same batch size and dtype). With `progress`,
    a progress bar is drawn on stderr when stderr is a terminal.
    """
    from convprof.measure.runner import run

    return run(spec, report, options, progress=progress)
