"""What an import could not read: ops listed as unsupported, ops kept opaque, and the one message."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from convprof.errors import ConvprofError
from convprof.importing.calls import CallSite

__all__ = ["ModelImportError", "OpaqueOps", "Problems", "pattern"]

#: Unsupported ops listed in one message, most frequent first; the rest are counted.
_MAX_LISTED = 12


def pattern(path: str) -> str:
    """Return a path with its numbered segments as `*`: encoder.layers.3.attn -> encoder.layers.*.attn."""
    return ".".join("*" if re.fullmatch(r"\d+", part) else part for part in path.split(".")) or "<top>"


class ModelImportError(ConvprofError):
    """A torch module convprof cannot read as a spec: it cannot run, or has ops it cannot count."""

    def __init__(self, message: str, ops: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.ops = ops
        """The ops listed (each with its reason, where there is one), most frequent first; empty
        when the model could not run."""


@dataclass(frozen=True, slots=True)
class OpaqueOps:
    """Calls of one op at one path pattern kept as opaque nodes (`--allow-unknown`)."""

    op: str
    """The op, with the reason no kind reads it where there is one."""
    where: str
    """The path pattern of its calls: `encoder.layers.*.attn`."""
    count: int
    """How many calls."""


def _entry(op: str, where: str, count: int, site: CallSite | None) -> str:
    return f"{count} x {op} at {where}" + (f" ({site})" if site is not None else "")


class Problems:
    """The ops an import lists, by op (with its reason) and path pattern, and where the model's code
    first made each."""

    def __init__(self, allow_unknown: bool) -> None:
        self.allow_unknown = allow_unknown
        self.unsupported: Counter[tuple[str, str]] = Counter()
        self.opaque: Counter[tuple[str, str]] = Counter()
        self.sites: dict[tuple[str, str], CallSite | None] = {}
        self.keepable = 0
        """Listed ops an opaque node could stand for (the message then suggests --allow-unknown)."""

    def unsupported_op(
        self, op: str, scope: str, reason: str, site: CallSite | None, *, keepable: bool = False
    ) -> None:
        """List one call of `op` in `scope` that no kind reads, with why where there is a reason."""
        key = (op + (f" ({reason})" if reason else ""), pattern(scope))
        self.unsupported[key] += 1
        self.sites.setdefault(key, site)
        self.keepable += keepable

    def opaque_op(self, op: str, scope: str, reason: str, site: CallSite | None) -> None:
        """Count one call kept as an opaque node."""
        key = (op + (f" ({reason})" if reason else ""), pattern(scope))
        self.opaque[key] += 1
        self.sites.setdefault(key, site)

    def __bool__(self) -> bool:
        return bool(self.unsupported)

    def ops(self) -> tuple[str, ...]:
        """Return each op listed as unsupported, with its reason, once, most frequent first."""
        return tuple(dict.fromkeys(op for (op, _), _ in self.unsupported.most_common()))

    def kept(self) -> tuple[OpaqueOps, ...]:
        """Return the ops kept opaque, most frequent first."""
        return tuple(OpaqueOps(op, where, count) for (op, where), count in self.opaque.most_common())

    def message(self) -> str:
        """Return the one line that ends an import with unsupported ops."""
        entries = self.unsupported.most_common()
        listed = [
            _entry(op, where, count, self.sites.get((op, where)))
            for (op, where), count in entries[:_MAX_LISTED]
        ]
        more = len(entries) - _MAX_LISTED
        if more > 0:
            listed.append(f"and {more} more")
        total = sum(self.unsupported.values())
        ops = f"{total} op{'s' if total != 1 else ''}"
        if self.allow_unknown:
            return (
                f"{ops} convprof cannot count, not even as opaque nodes: {'; '.join(listed)} (an opaque "
                "node stands for an op whose result the model uses as one batched tensor)"
            )
        hint = (
            "; --allow-unknown keeps an op whose result is one batched tensor as an opaque node, "
            "its counts unknown"
            if self.keepable
            else ""
        )
        return (
            f"{ops} convprof cannot count: {'; '.join(listed)} "
            f"(convprof counts only what its layer kinds can say exactly{hint})"
        )
