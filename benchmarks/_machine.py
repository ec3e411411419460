"""What every benchmark reports about the machine it ran on: CPU model, SIMD flags, load."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

# the instruction-set extensions that change the speed of the contenders here (numpy's sort,
# hashing, vectorised loops)
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vbmi2", "sha_ni", "neon", "asimd")


def _cpuinfo() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                out.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return out


def cpu_model() -> str:
    return _cpuinfo().get("model name") or platform.processor() or platform.machine() or "unknown"


def cpu_flags() -> list[str]:
    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    return [f for f in SIMD_FLAGS if f in flags]


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def describe() -> str:
    """One line: model, SIMD flags, cores this process may use, 1-minute load average."""
    return f"CPU: {cpu_model()} [{' '.join(cpu_flags()) or 'no SIMD flags read'}]; {cores()} cores; load {load():.2f}"


def run_meta(load_start: tuple[float, ...], **extra) -> dict:
    """What a benchmark's JSON records about its run: the command, machine, CPU model, cores,
    load average at the start (``os.getloadavg()`` taken then) and end, finishing time, and
    ``extra`` (thread counts, library versions)."""
    return {"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": platform.platform(),
            "cpu": cpu_model(), "cpus": os.cpu_count(), **extra,
            "loadavg_start": [round(x, 2) for x in load_start],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "finished_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
