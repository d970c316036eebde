"""Record where a measurement ran: versions, CPU, threads, load, GPUs."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

from convprof.report.results import CudaEnvironment
from convprof.version import __version__

__all__ = [
    "THREAD_VARIABLES",
    "cpu_model",
    "cuda_environment",
    "load_average",
    "thread_variables",
    "versions",
]

#: Environment variables that change how many threads torch's kernels use.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "KMP_AFFINITY",
    "OMP_PROC_BIND",
    "GOMP_CPU_AFFINITY",
)


def cpu_model() -> str:
    """Return the CPU's model name."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> tuple[float, float, float]:
    """Return the 1, 5 and 15 minute load average, zeros where the OS has none."""
    try:
        return os.getloadavg()
    except OSError:  # pragma: no cover - platforms without a load average
        return (0.0, 0.0, 0.0)


def thread_variables() -> tuple[tuple[str, str], ...]:
    """Return the thread-related environment variables that are set."""
    return tuple((name, os.environ[name]) for name in THREAD_VARIABLES if name in os.environ)


def _driver() -> str | None:
    try:
        result = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = result.stdout.strip().splitlines()
    return lines[0].strip() if result.returncode == 0 and lines else None


def cuda_environment(device: str, limit: int) -> CudaEnvironment:
    """Describe one GPU and the CUDA settings in force."""
    import torch

    major, minor = torch.cuda.get_device_capability(device)
    return CudaEnvironment(
        device=device,
        name=torch.cuda.get_device_name(device),
        capability=f"{major}.{minor}",
        driver=_driver(),
        cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version(),  # type: ignore[no-untyped-call]
        cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
        tf32_matmul=bool(torch.backends.cuda.matmul.allow_tf32),
        tf32_cudnn=bool(torch.backends.cudnn.allow_tf32),
        memory_limit_bytes=limit,
    )


def versions() -> tuple[str, str, str]:
    """Return convprof's, Python's and torch's versions."""
    import torch

    return __version__, sys.version.split()[0], str(torch.__version__)
