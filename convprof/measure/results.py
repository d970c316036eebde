"""What a measurement found, as plain frozen data: the Report carries these, renderers read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from convprof.measure.stats import LatencyStats

__all__ = ["CudaEnvironment", "DeviceLatency", "Environment", "MemoryMeasurement"]


@dataclass(frozen=True, slots=True)
class MemoryMeasurement:
    """Memory one inference of a variant really took, beside nothing: the estimate is in the variant."""

    weight_bytes: int
    """Bytes of the built module's parameters (each storage counted once)."""
    buffer_bytes: int
    """Bytes of the built module's buffers (BatchNorm running statistics)."""
    peak_activation_bytes: int
    """Peak bytes of tensors alive during one inference beyond the weights, the input included."""
    method: str
    """How the peak was found: `cuda.max_memory_allocated` or `dispatch-tracking` (CPU)."""


@dataclass(frozen=True, slots=True)
class DeviceLatency:
    """One variant on one device: its timing, memory and throughput, or why it was skipped."""

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
    memory: MemoryMeasurement | None = None
    """Memory one inference took; None when skipped."""
    achieved_flop_per_s: float | None = None
    """The variant's FLOPs divided by the median latency."""
    arithmetic_intensity: float | None = None
    """FLOPs per byte of weights, buffers, input and layer outputs moved (analytic)."""
    roofline_fraction: float | None = None
    """Achieved FLOP/s over the calibrated roofline bound at this intensity; None without calibration."""

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
            "memory": None
            if self.memory is None
            else {
                "weight_bytes": self.memory.weight_bytes,
                "buffer_bytes": self.memory.buffer_bytes,
                "peak_activation_bytes": self.memory.peak_activation_bytes,
                "method": self.memory.method,
            },
        }
        return data


@dataclass(frozen=True, slots=True)
class CudaEnvironment:
    """One GPU as measured."""

    device: str
    """torch device name, e.g. cuda:0."""
    name: str
    """GPU model."""
    capability: str
    """Compute capability, e.g. 9.0."""
    driver: str | None
    """Driver version, when nvidia-smi reports it."""
    cuda: str | None
    """CUDA version torch was built with."""
    cudnn: int | None
    """cuDNN version."""
    cudnn_benchmark: bool
    """torch.backends.cudnn.benchmark while measuring."""
    tf32_matmul: bool
    """torch.backends.cuda.matmul.allow_tf32 while measuring."""
    tf32_cudnn: bool
    """torch.backends.cudnn.allow_tf32 while measuring."""
    memory_limit_bytes: int
    """The memory limit variants were checked against on this device."""


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
            "cuda": [
                {
                    "device": c.device,
                    "name": c.name,
                    "capability": c.capability,
                    "driver": c.driver,
                    "cuda": c.cuda,
                    "cudnn": c.cudnn,
                    "cudnn_benchmark": c.cudnn_benchmark,
                    "tf32_matmul": c.tf32_matmul,
                    "tf32_cudnn": c.tf32_cudnn,
                    "memory_limit_bytes": c.memory_limit_bytes,
                }
                for c in self.cuda
            ],
            "calibration": {
                device: {"peak_flop_per_s": flops, "copy_bytes_per_s": bandwidth}
                for device, flops, bandwidth in self.calibration
            },
        }
