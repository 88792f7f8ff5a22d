"""How fast the machine is right now, measured at the time of the run, not read from its
description.

A virtual machine's description (cores, memory, kernel) stays the same when its host gives it
less: on 2026-12-03 the same machine ran the floor at tier L in 196 s and, three hours later,
in 323 s (docs/performance.md, "The same machine three hours later"). A report that gives only
the description credits or blames the code for the host's load. This check gives each report
three figures, taken at the start and at the end of the tier (the host can change while a tier
runs):

- a fixed piece of pure-Python work timed in one process (the speed of one core);
- the same work in one process per core at once, as cores' worth (processes x alone / at once:
  the number of cores when every core is there, about 1 when the host gives one core's worth);
- memory written for the first time by a fresh process, in GB/s (10^9 bytes): on these virtual
  machines it went from 0.12 to 2.3 GB/s within minutes, and DuckDB's spilling statements
  allocate and free gigabytes.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

# about 0.15 s of one core on the machines the bench has run on: long enough to time, short
# enough that the whole check costs a few seconds
WORK = 3_000_000
ROUNDS = 3
FIRST_TOUCH_MB = 256


def spin(work: int = WORK) -> float:
    """A fixed amount of CPU work in this process (no I/O, no allocation to speak of); its time."""
    started = time.perf_counter()
    total = 0
    for i in range(work):
        total += i * i
    return time.perf_counter() - started


def first_touch(megabytes: int = FIRST_TOUCH_MB) -> float:
    """Seconds for this process to allocate and write `megabytes` of memory it never had."""
    import numpy as np  # the harness's environment has it (pandas, scikit-learn)

    started = time.perf_counter()
    block = np.ones(megabytes * 2**20 // 8, dtype=np.float64)
    elapsed = time.perf_counter() - started
    del block
    return elapsed


def _all_at_once(pool: ProcessPoolExecutor, processes: int, work: int) -> float:
    started = time.perf_counter()
    list(pool.map(spin, [work] * processes))
    return time.perf_counter() - started


def machine_check(
    processes: int | None = None,
    work: int = WORK,
    rounds: int = ROUNDS,
    megabytes: int = FIRST_TOUCH_MB,
) -> dict[str, Any]:
    """The fixed work alone and `processes` copies of it at once (medians of `rounds`), the
    cores' worth that makes, and the first-touch memory speed (median of `rounds` fresh
    processes)."""
    processes = processes or os.cpu_count() or 1
    fork = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=processes, mp_context=fork) as pool:
        # start the workers and warm them before timing anything
        list(pool.map(spin, [work // 10] * processes))
        alone = statistics.median(pool.submit(spin, work).result() for _ in range(rounds))
        at_once = statistics.median(_all_at_once(pool, processes, work) for _ in range(rounds))
    touches = []
    for _ in range(rounds):
        # a process of its own each time: within one process, freed memory is reused warm
        with ProcessPoolExecutor(max_workers=1, mp_context=fork) as fresh:
            touches.append(fresh.submit(first_touch, megabytes).result())
    return {
        "processes": processes,
        "alone_s": round(alone, 3),
        "at_once_s": round(at_once, 3),
        "cores_worth": round(processes * alone / at_once, 2),
        "first_touch_gb_s": round(megabytes * 2**20 / 1e9 / statistics.median(touches), 2),
    }


def describe(check: dict[str, Any]) -> str:
    """The check in one line of the report."""
    return (
        f"a fixed loop {check['alone_s']:.2f} s alone and {check['at_once_s']:.2f} s "
        f"{check['processes']} at once ({check['cores_worth']:.1f} cores' worth of "
        f"{check['processes']}); fresh memory written at {check['first_touch_gb_s']:.2f} GB/s"
    )
