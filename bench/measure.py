"""Run a command in a subprocess and sample the resident memory of its whole process tree.

dbt runs in a child of the Dagster run process, so the children's RSS is added to the parent's.
Memory is read from /proc (Linux); timestamps are epoch seconds, comparable with Dagster's.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_INTERVAL_S = 0.1
TREE_REFRESH_EVERY = 5


@dataclass
class MeasuredRun:
    """What one subprocess took: wall time, RSS samples of its tree, exit code and output."""

    command: list[str]
    returncode: int
    started_at: float
    finished_at: float
    samples: list[tuple[float, int]] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""

    @property
    def wall_s(self) -> float:
        return self.finished_at - self.started_at

    @property
    def peak_rss_bytes(self) -> int:
        return max((rss for _, rss in self.samples), default=0)

    def peak_between(self, start: float, end: float) -> int | None:
        """The highest tree RSS sampled in [start, end]; None when no sample fell inside."""
        inside = [rss for ts, rss in self.samples if start <= ts <= end]
        return max(inside) if inside else None


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: fields start after the last ')'
        fields = stat.rsplit(")", 1)[1].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def rss_bytes(pid: int) -> int:
    """Resident memory of one process in bytes (0 if it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """A process and all its descendants."""
    children = _children_by_parent()
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    return sum(rss_bytes(member) for member in descendants(pid))


def run_measured(
    command: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log_path: Path | None = None,
) -> MeasuredRun:
    """Run `command` to completion while a thread samples its tree's RSS every 100 ms.

    stdout and stderr go to `log_path` when given (a long run's output is not held in memory),
    else they are captured into the result.
    """
    samples: list[tuple[float, int]] = []
    done = threading.Event()
    log = open(log_path, "w") if log_path else None  # noqa: SIM115 - closed below
    started = time.time()
    process = subprocess.Popen(
        list(command),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdout=log or subprocess.PIPE,
        stderr=subprocess.STDOUT if log else subprocess.PIPE,
        text=True,
    )

    def sample() -> None:
        tree: list[int] = []
        for tick in itertools.count():
            if done.is_set():
                return
            # walking all of /proc costs more than reading a few status files: every 5th sample
            if tick % TREE_REFRESH_EVERY == 0:
                tree = descendants(process.pid)
            samples.append((time.time(), sum(rss_bytes(member) for member in tree)))
            done.wait(SAMPLE_INTERVAL_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = process.communicate()
    finally:
        finished = time.time()
        done.set()
        sampler.join()
        if log:
            log.close()
    return MeasuredRun(
        command=list(command),
        returncode=process.returncode,
        started_at=started,
        finished_at=finished,
        samples=samples,
        stdout=stdout or "",
        stderr=stderr or "",
    )
