"""How two reports measured a device, and what of it differs: latencies measured under different
protocols (threads, dtype, batch, memory format, compilation, the processor) are not comparable."""

from __future__ import annotations

from convprof.report import Report

__all__ = ["MACHINE_SETTINGS", "PROTOCOL_OPTIONS", "protocol_differences"]

#: What a user sets on the command line to measure under the same protocol again.
PROTOCOL_OPTIONS = "--threads, --dtype, --batch-size, --channels-last and --compile"
#: Settings of the machine rather than of the command line: a CI runner may change them.
MACHINE_SETTINGS = ("CPU", "GPU")


def _settings(report: Report, device: str) -> dict[str, str] | None:
    """Return how `report` measured `device`, setting by setting; None when it measured nothing."""
    env = report.environment
    if env is None:
        return None
    settings = {
        "dtype": env.dtype,
        "batch size": str(env.batch_size),
        "channels-last": "on" if env.channels_last else "off",
        "compile": "on" if env.compiled else "off",
    }
    if device.startswith("cuda"):
        gpus = {gpu.device: gpu.name for gpu in env.cuda}
        first = env.cuda[0].name if env.cuda else "none"
        settings["GPU"] = gpus.get(device, first)
    else:
        settings["threads"] = str(env.threads)
        settings["CPU"] = env.cpu_model
    return settings


def protocol_differences(old: Report, new: Report, device: str) -> tuple[str, ...]:
    """Return what differs between how `old` and `new` measured `device` (`threads 1 -> 2`), in a
    stable order; empty when they agree or either measured nothing."""
    before, after = _settings(old, device), _settings(new, device)
    if before is None or after is None:
        return ()
    return tuple(
        f"{name} {before[name]} -> {after[name]}" for name in before if before[name] != after.get(name)
    )
