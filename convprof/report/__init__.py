"""The Report: the one data type every renderer and the JSON export draw from.

Its records are convprof.report.records; its JSON form, each way, convprof.report.serialize."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from convprof.report.records import (
    LAYER_FIELDS,
    LOWER_BOUND_MARK,
    LOWER_BOUND_TOTALS,
    READABLE_SCHEMA_VERSIONS,
    SCHEMA_VERSION,
    VARIANT_TOTALS,
    HeldTensor,
    LayerReport,
    SpecInfo,
    TrainingPeak,
    VariantReport,
)
from convprof.report.results import Environment, ReportDataError
from convprof.report.roles import HELD_ROLES, RESIDENT_ROLES, STEP_PHASES
from convprof.report.serialize import read_spec, read_variants, spec_dict, variant_dict

__all__ = [
    "HELD_ROLES",
    "LAYER_FIELDS",
    "LOWER_BOUND_MARK",
    "LOWER_BOUND_TOTALS",
    "READABLE_SCHEMA_VERSIONS",
    "RESIDENT_ROLES",
    "SCHEMA_VERSION",
    "STEP_PHASES",
    "VARIANT_TOTALS",
    "HeldTensor",
    "LayerReport",
    "Report",
    "ReportDataError",
    "SpecInfo",
    "TrainingPeak",
    "VariantReport",
]


@dataclass(frozen=True, slots=True)
class Report:
    """The analysis of one spec: its three variants, exact integers throughout."""

    schema_version: int
    """JSON schema version of this report."""
    convprof_version: str
    """Version of convprof that made it."""
    spec: SpecInfo
    """The spec analysed."""
    optimizer: str
    """Optimizer assumed for training memory."""
    variants: tuple[VariantReport, ...]
    """dense, local and conv, in that order."""
    environment: Environment | None = None
    """Where latency was measured; None when nothing was measured."""

    def variant(self, name: str) -> VariantReport:
        """Return the variant called `name`."""
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data with a stable key order and exact integers."""
        data: dict[str, Any] = {
            "schema_version": self.schema_version,
            "convprof_version": self.convprof_version,
            "spec": spec_dict(self.spec, self.schema_version),
            "optimizer": self.optimizer,
            "variants": {v.name: variant_dict(v, self.schema_version) for v in self.variants},
        }
        if self.environment is not None:
            data["environment"] = self.environment.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """Return the Report `to_dict` wrote: its exact inverse, for data the report schema accepts.

        Derived figures (flops, training_flops, latency statistics) are recomputed from what they
        derive from; ReportDataError, with its path in the document, when they disagree.
        """
        environment = data.get("environment")
        variants = read_variants(data)  # first: a refusal names the first thing that disagrees
        return cls(
            schema_version=data["schema_version"],
            convprof_version=data["convprof_version"],
            spec=read_spec(data["spec"], data["schema_version"]),
            optimizer=data["optimizer"],
            variants=variants,
            environment=None if environment is None else Environment.from_dict(environment),
        )
