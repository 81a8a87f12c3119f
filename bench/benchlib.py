"""What every benchmark shares: percentiles, the machine's description, process memory.

Benchmarks run as scripts (``.venv/bin/python bench/<name>.py``), so this
module is imported by its bare name from the script's own directory.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable, Sequence
from pathlib import Path


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``th percentile (0-100) of a non-empty sample."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def machine() -> str:
    """One line naming the host, CPU, kernel and Python, printed before the figures."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return (
        f"{platform.node()}: {cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def proc_kib(pid: int, path: str, key: str) -> int:
    """A ``key: N kB`` line of ``/proc/<pid>/<path>`` (status, smaps_rollup)."""
    for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise LookupError(f"{key} not in /proc/{pid}/{path}")


def rss_kib(pid: int) -> int:
    return proc_kib(pid, "status", "VmRSS")


def memory_mb(pids: Iterable[int]) -> tuple[float, float]:
    """Total (RSS, PSS) of ``pids`` in MB; PSS shares a shared page among its users.

    A process that ended since it was listed counts for nothing.
    """
    rss = pss = 0
    for pid in pids:
        try:
            rss += rss_kib(pid)
            pss += proc_kib(pid, "smaps_rollup", "Pss")
        except (FileNotFoundError, ProcessLookupError):
            continue
    return rss / 1024, pss / 1024


def pids_mentioning(text: str) -> set[int]:
    """Processes whose command line contains ``text`` (a state directory, say)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.add(int(proc.name))
    return found
