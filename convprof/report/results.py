"""What a measurement found, as plain frozen data: the Report carries these, renderers read them.

Each type writes its JSON form (`to_dict`) and reads it back (`from_dict`), the exact inverse, as its
fields declare it (convprof.report.fields); the measuring code in convprof.measure fills them, and
nothing here imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from convprof.report.fields import COUNT, MAYBE_TEXT, OLDEST, json, read, write
from convprof.report.stats import LatencyStats, summarize

__all__ = [
    "CudaEnvironment",
    "DeviceLatency",
    "Environment",
    "MemoryMeasurement",
    "ReportDataError",
    "StepMemory",
]

JsonPath = tuple[str | int, ...]


class ReportDataError(ValueError):
    """Saved report data that fits the schema but contradicts itself, at a path inside the document."""

    def __init__(self, path: JsonPath, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{'.'.join(map(str, path))}: {message}")


def _floats(values: Sequence[Any]) -> tuple[float, ...]:
    # JSON may spell a whole number without a decimal point; the typed report holds floats.
    return tuple(float(v) for v in values)


def _maybe_float(value: Any) -> float | None:
    return None if value is None else float(value)


#: How a memory was measured.
METHOD: dict[str, Any] = {"enum": ["cuda.max_memory_allocated", "dispatch-tracking"]}


@dataclass(frozen=True, slots=True)
class MemoryMeasurement:
    """Memory one inference of a variant really took, beside nothing: the estimate is in the variant."""

    weight_bytes: int = field(metadata=json(COUNT))
    """Bytes of the built module's parameters (each storage counted once)."""
    buffer_bytes: int = field(metadata=json(COUNT))
    """Bytes of the built module's buffers (BatchNorm running statistics)."""
    peak_activation_bytes: int = field(metadata=json(COUNT))
    """Peak bytes of tensors alive during one inference beyond the weights, the input included."""
    method: str = field(metadata=json(METHOD))
    """How the peak was found: `cuda.max_memory_allocated` or `dispatch-tracking` (CPU)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return write(self, OLDEST)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MemoryMeasurement:
        """Return the measurement `to_dict` wrote."""
        return cls(**read(cls, data, OLDEST))


@dataclass(frozen=True, slots=True)
class StepMemory:
    """Memory one training step of a variant really took, beside the model's estimate for the device."""

    held_bytes: int = field(
        metadata=json(
            COUNT | {"description": "Weights, buffers, optimizer state and input, held before the step."}
        )
    )
    """Bytes held before the step: the built module's parameters and buffers, the optimizer's state
    on the device and the input (each storage once)."""
    peak_bytes: int = field(
        metadata=json(
            COUNT | {"description": "held_bytes plus the most the step held at once: its measured peak."}
        )
    )
    """`held_bytes` plus the most bytes of tensors alive at once during the step (activations kept
    for the backward, gradients, the output's gradient, the optimizer's temporaries)."""
    estimate_bytes: int = field(
        metadata=json(COUNT | {"description": "The modelled peak of the step on this device."})
    )
    """The modelled peak of the same step on this device (convprof.graph.training.training_cost)."""
    error_percent: float = field(
        init=False,
        metadata=json(
            {
                "type": "number",
                "description": "(estimate_bytes - peak_bytes) / peak_bytes x 100; derived again when "
                "a report is read.",
            }
        ),
    )
    """How far the estimate is from the measured peak, in percent of the measured peak (positive:
    the model over-estimates); derived, never stored apart from what it derives from."""
    method: str = field(metadata=json(METHOD))
    """How the peak was found: `cuda.max_memory_allocated` or `dispatch-tracking` (CPU)."""

    def __post_init__(self) -> None:
        error = (self.estimate_bytes - self.peak_bytes) * 100 / self.peak_bytes if self.peak_bytes else 0.0
        object.__setattr__(self, "error_percent", error)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (with the derived error, for readers)."""
        return write(self, OLDEST)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepMemory:
        """Return the measurement `to_dict` wrote; the error is derived again from the byte counts."""
        return cls(**read(cls, data, OLDEST))


@dataclass(frozen=True, slots=True)
class DeviceLatency:
    """One variant on one device: its timing, memory and throughput, or why it was skipped.

    The same structure holds an inference (`latency`) and a training step (`training_latency`):
    their timings follow one protocol and one statistics code; they differ in what `memory` holds."""

    device: str
    """Device measured, e.g. cpu or cuda:0."""
    skipped: str | None
    """Why nothing was measured (too large, dtype unsupported), or None when measured."""
    stats: LatencyStats | None = None
    """End-to-end per-call time statistics; None when skipped."""
    first_call_ms: float | None = None
    """The first call, timed apart (kernel selection and allocation happen there)."""
    compile_ms: float | None = None
    """With torch.compile: the first call of the compiled module (tracing, code generation, one run)."""
    calls_per_sample: int = 0
    """Calls timed together in each sample."""
    device_stats: LatencyStats | None = None
    """CUDA only: per-call device time from CUDA events around each block."""
    memory: MemoryMeasurement | StepMemory | None = None
    """Memory one inference took (MemoryMeasurement), or one training step (StepMemory); None when
    skipped."""
    achieved_flop_per_s: float | None = None
    """The variant's FLOPs (a training step's: forward and backward) divided by the median latency."""
    arithmetic_intensity: float | None = None
    """FLOPs per byte of weights, buffers, input and layer outputs moved (analytic); None for a
    training step, whose traffic is not modelled."""
    roofline_fraction: float | None = None
    """Achieved FLOP/s over the calibrated roofline bound at this intensity; None without calibration
    or intensity."""

    def to_dict(self) -> dict[str, Any] | None:
        """Return the JSON form: timing fields flat, raw samples included; None when skipped."""
        if self.stats is None:
            return None
        s = self.stats
        data: dict[str, Any] = {
            "median_ms": s.median_ms,
            "p10_ms": s.p10_ms,
            "p25_ms": s.p25_ms,
            "p75_ms": s.p75_ms,
            "p90_ms": s.p90_ms,
            "iqr_ms": s.iqr_ms,
            "min_ms": s.min_ms,
            "max_ms": s.max_ms,
            "mean_ms": s.mean_ms,
            "samples": s.samples,
            "calls_per_sample": self.calls_per_sample,
            "round_spread": s.round_spread,
            "stable": s.stable,
            "first_call_ms": self.first_call_ms,
            "compile_ms": self.compile_ms,
            "raw_ms": list(s.raw_ms),
            "raw_rounds": list(s.rounds),
            "device_median_ms": None if self.device_stats is None else self.device_stats.median_ms,
            "device_raw_ms": None if self.device_stats is None else list(self.device_stats.raw_ms),
            "achieved_flop_per_s": self.achieved_flop_per_s,
            "arithmetic_intensity": self.arithmetic_intensity,
            "roofline_fraction": self.roofline_fraction,
            "memory": None if self.memory is None else self.memory.to_dict(),
        }
        return data

    @classmethod
    def from_dict(
        cls, device: str, entry: Mapping[str, Any] | None, skipped: str | None, *, training: bool = False
    ) -> DeviceLatency:
        """Return the result `to_dict` wrote for `device`, its statistics derived from the raw samples;
        with `training`, a training step's (its memory a StepMemory).

        The stored median, percentiles and stability verdict are what the raw samples give; they are
        recomputed rather than trusted, so every reader applies the one rule of convprof.report.stats.
        ReportDataError (path inside the entry) when the samples contradict each other.
        """
        if entry is None:
            return cls(device, skipped)
        if skipped is not None:
            raise ReportDataError(("skipped", device), "a device both measured and skipped")
        raw, rounds = _floats(entry["raw_ms"]), tuple(entry["raw_rounds"])
        if len(rounds) != len(raw):
            raise ReportDataError(
                ("raw_rounds",), f"{len(rounds)} rounds for {len(raw)} samples in raw_ms; they are parallel"
            )
        device_raw = entry["device_raw_ms"]
        if device_raw is not None and len(device_raw) != len(raw):
            raise ReportDataError(
                ("device_raw_ms",), f"{len(device_raw)} samples, raw_ms has {len(raw)}; they are parallel"
            )
        memory = entry["memory"]
        return cls(
            device=device,
            skipped=None,
            stats=summarize(raw, rounds),
            first_call_ms=_maybe_float(entry["first_call_ms"]),
            compile_ms=_maybe_float(entry["compile_ms"]),
            calls_per_sample=entry["calls_per_sample"],
            device_stats=None if device_raw is None else summarize(_floats(device_raw), rounds),
            memory=None
            if memory is None
            else StepMemory.from_dict(memory)
            if training
            else MemoryMeasurement.from_dict(memory),
            achieved_flop_per_s=_maybe_float(entry["achieved_flop_per_s"]),
            arithmetic_intensity=_maybe_float(entry["arithmetic_intensity"]),
            roofline_fraction=_maybe_float(entry["roofline_fraction"]),
        )


@dataclass(frozen=True, slots=True)
class CudaEnvironment:
    """One GPU as measured."""

    device: str = field(metadata=json({"type": "string"}))
    """torch device name, e.g. cuda:0."""
    name: str = field(metadata=json({"type": "string"}))
    """GPU model."""
    capability: str = field(metadata=json({"type": "string"}))
    """Compute capability, e.g. 9.0."""
    driver: str | None = field(metadata=json(MAYBE_TEXT))
    """Driver version, when nvidia-smi reports it."""
    cuda: str | None = field(
        metadata=json(MAYBE_TEXT | {"description": "CUDA version torch was built with."})
    )
    """CUDA version torch was built with."""
    cudnn: int | None = field(metadata=json({"type": ["integer", "null"]}))
    """cuDNN version."""
    cudnn_benchmark: bool = field(metadata=json({"type": "boolean"}))
    """torch.backends.cudnn.benchmark while measuring."""
    tf32_matmul: bool = field(metadata=json({"type": "boolean"}))
    """torch.backends.cuda.matmul.allow_tf32 while measuring."""
    tf32_cudnn: bool = field(metadata=json({"type": "boolean"}))
    """torch.backends.cudnn.allow_tf32 while measuring."""
    memory_limit_bytes: int = field(metadata=json(COUNT))
    """The memory limit variants were checked against on this device."""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return write(self, OLDEST)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CudaEnvironment:
        """Return the GPU `to_dict` wrote."""
        return cls(**read(cls, data, OLDEST))


@dataclass(frozen=True, slots=True)
class Environment:
    """Where and how a measurement ran, so that two reports can be told apart."""

    convprof_version: str
    """convprof's version."""
    python_version: str
    """Python's version."""
    torch_version: str
    """torch's version."""
    platform: str
    """Operating system and machine."""
    cpu_model: str
    """CPU model name, from /proc/cpuinfo or the platform."""
    logical_cores: int
    """Logical cores the OS reports."""
    threads: int
    """CPU intra-op threads used while measuring."""
    env_threads: tuple[tuple[str, str], ...]
    """Thread-related environment variables that were set (OMP_NUM_THREADS, MKL_NUM_THREADS, ...)."""
    load_before: tuple[float, float, float]
    """1, 5 and 15 minute load average before measuring."""
    load_after: tuple[float, float, float]
    """The same after measuring."""
    preset: str
    """Preset used: quick, default or rigorous."""
    dtype: str
    """Element type of every variant."""
    batch_size: int
    """Samples per inference."""
    channels_last: bool
    """Whether 4-D tensors ran in channels-last format."""
    compiled: bool
    """Whether variants ran through torch.compile."""
    cpu_memory_limit_bytes: int
    """The memory limit variants were checked against on the CPU."""
    cuda: tuple[CudaEnvironment, ...]
    """GPUs measured; empty when none was."""
    calibration: tuple[tuple[str, float, float], ...]
    """(device, peak FLOP/s, copy bytes/s) from `convprof calibrate`, for devices that have one."""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "convprof_version": self.convprof_version,
            "python_version": self.python_version,
            "torch_version": self.torch_version,
            "platform": self.platform,
            "cpu_model": self.cpu_model,
            "logical_cores": self.logical_cores,
            "threads": self.threads,
            "env_threads": dict(self.env_threads),
            "load_before": list(self.load_before),
            "load_after": list(self.load_after),
            "preset": self.preset,
            "dtype": self.dtype,
            "batch_size": self.batch_size,
            "channels_last": self.channels_last,
            "compiled": self.compiled,
            "cpu_memory_limit_bytes": self.cpu_memory_limit_bytes,
            "cuda": [c.to_dict() for c in self.cuda],
            "calibration": {
                device: {"peak_flop_per_s": flops, "copy_bytes_per_s": bandwidth}
                for device, flops, bandwidth in self.calibration
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Environment:
        """Return the environment `to_dict` wrote."""
        return cls(
            convprof_version=data["convprof_version"],
            python_version=data["python_version"],
            torch_version=data["torch_version"],
            platform=data["platform"],
            cpu_model=data["cpu_model"],
            logical_cores=data["logical_cores"],
            threads=data["threads"],
            env_threads=tuple(data["env_threads"].items()),
            load_before=_load(data["load_before"]),
            load_after=_load(data["load_after"]),
            preset=data["preset"],
            dtype=data["dtype"],
            batch_size=data["batch_size"],
            channels_last=data["channels_last"],
            compiled=data["compiled"],
            cpu_memory_limit_bytes=data["cpu_memory_limit_bytes"],
            cuda=tuple(CudaEnvironment.from_dict(gpu) for gpu in data["cuda"]),
            calibration=tuple(
                (device, float(bound["peak_flop_per_s"]), float(bound["copy_bytes_per_s"]))
                for device, bound in data["calibration"].items()
            ),
        )


def _load(values: Sequence[Any]) -> tuple[float, float, float]:
    one, five, fifteen = _floats(values)
    return one, five, fifteen
