"""What machine are we on: device, processor features, threads, precision.

Everything that depends on the hardware asks here, so the rest of the code says
"the best dtype for this device" instead of re-detecting CPU flags. bf16 autocast
is only used where the processor does bf16 arithmetic natively (AVX512-BF16 / AMX
on x86, CUDA with bf16 support): elsewhere it is emulated and slower than fp32.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass

from textclf_core.errors import TextclfError


@dataclass
class Hardware:
    """The compute a run will use."""

    device: str  # "cuda" | "mps" | "cpu"
    name: str  # GPU or CPU model name, for people
    cpu_cores: int  # cores this process may use
    bf16: bool  # native bf16 arithmetic on `device`
    gpu_memory_gb: float | None = None  # total memory of the GPU, None on CPU

    @property
    def is_gpu(self) -> bool:
        return self.device in ("cuda", "mps")

    def describe(self) -> str:
        """One plain-language line, e.g. 'CPU (Intel Xeon, 2 cores, bf16)'."""
        if self.device == "cuda":
            mem = f", {self.gpu_memory_gb:.0f} GB" if self.gpu_memory_gb else ""
            return f"GPU {self.name}{mem}"
        if self.device == "mps":
            return f"Apple GPU ({self.name})"
        return f"CPU ({self.name}, {self.cpu_cores} cores{', bf16' if self.bf16 else ''})"

    def to_dict(self) -> dict:
        return asdict(self)


def cpu_cores() -> int:
    """Cores this process may run on (respects taskset / container CPU sets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@functools.lru_cache(maxsize=1)
def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


@functools.lru_cache(maxsize=1)
def cpu_native_bf16() -> bool:
    """True when the CPU has bf16 instructions (AVX512-BF16 or AMX) that oneDNN uses.

    Without them torch emulates bf16 and autocast makes things slower, not faster.
    """
    flags = _cpu_flags()
    if not ({"avx512_bf16", "amx_bf16"} & flags):
        return False
    try:  # oneDNN must agree (e.g. a torch build without mkldnn)
        import torch

        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # noqa: BLE001 - private API may move; the flags are a good enough answer
        return True


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        return False


def _mps_available() -> bool:
    try:
        import torch

        return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    except Exception:  # noqa: BLE001
        return False


def _visible(count: int) -> int:
    """``count`` GPUs on the machine, as many as ``CUDA_VISIBLE_DEVICES`` leaves this process."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return count
    ids = [v.strip() for v in visible.split(",") if v.strip()]
    if "-1" in ids:  # CUDA ignores the entries from the first invalid one on
        ids = ids[: ids.index("-1")]
    return min(count, len(ids))


@functools.lru_cache(maxsize=1)
def gpu_count() -> int:
    """CUDA GPUs this process can use, without importing torch (the Strategy page asks before any
    training, and importing torch costs seconds). Asks torch only when it is already loaded; else
    the NVIDIA driver's /proc listing or ``nvidia-smi -L``; 0 when there is no NVIDIA driver."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
        except Exception:  # noqa: BLE001 - fall through to the driver
            pass
    try:
        return _visible(len(os.listdir("/proc/driver/nvidia/gpus")))
    except OSError:
        pass
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
            return _visible(sum(1 for line in out.splitlines() if line.startswith("GPU ")))
        except (OSError, subprocess.SubprocessError):
            pass
    return 0


def detect(device: str = "auto") -> Hardware:
    """The device to train on: CUDA if present, else Apple MPS, else CPU.

    ``device`` forces one ("cpu", "cuda", "mps"); asking for a GPU that is not there
    raises :class:`TextclfError`.
    """
    device = (device or "auto").lower()
    if device not in ("auto", "cpu", "cuda", "mps"):
        raise TextclfError(f"Device '{device}' is not one of auto, cpu, cuda, mps")
    if device in ("auto", "cuda") and _cuda_available():
        import torch

        index = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return Hardware(
            "cuda",
            props.name,
            cpu_cores(),
            bool(torch.cuda.is_bf16_supported()),
            round(props.total_memory / 1024**3, 1),
        )
    if device == "cuda":
        raise TextclfError("A CUDA GPU was asked for but none is available", hint="Choose device 'auto' or 'cpu'")
    if device in ("auto", "mps") and _mps_available():
        return Hardware("mps", platform.machine() or "Apple silicon", cpu_cores(), False, None)
    if device == "mps":
        raise TextclfError(
            "An Apple GPU (MPS) was asked for but none is available", hint="Choose device 'auto' or 'cpu'"
        )
    return Hardware("cpu", _cpu_name(), cpu_cores(), cpu_native_bf16(), None)


def configure_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads: ``n``, or all cores but one (min 1) so the web server stays responsive.

    Returns the number set. Safe to call repeatedly.
    """
    import torch

    if n is None or n <= 0:
        n = max(1, cpu_cores() - 1)
    n = int(n)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def autocast_dtype(device: str, precision: str = "auto"):
    """The dtype for ``torch.autocast`` on ``device``, or None for plain fp32.

    ``precision``: "auto" picks bf16 where native (CPU with AVX512-BF16/AMX, CUDA with bf16),
    fp16 on older CUDA GPUs, fp32 elsewhere; "bf16"/"fp16"/"fp32" force a choice
    (bf16 on a CPU without native support is allowed but slow; fp16 on CPU is refused).
    """
    import torch

    precision = (precision or "auto").lower()
    if precision == "fp32":
        return None
    if device == "cuda":
        if precision == "fp16":
            return torch.float16
        if precision == "bf16" or torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16
    if device == "mps":
        return torch.float16 if precision == "fp16" else None
    # CPU
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        raise TextclfError(
            "Half precision (fp16) is not supported for training on a CPU", hint="Choose precision 'auto' or 'bf16'"
        )
    return torch.bfloat16 if cpu_native_bf16() else None
