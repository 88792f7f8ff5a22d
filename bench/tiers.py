"""Benchmark sizes. Every tier covers two years so the incremental run can be compared at 1 and 2."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tier:
    name: str
    customers: int
    history_days: int
    peer: bool  # the pandas peer runs by default only where it finishes in reasonable time


TIERS = {
    "S": Tier("S", customers=10_000, history_days=730, peer=True),
    "M": Tier("M", customers=100_000, history_days=730, peer=True),
    "L": Tier("L", customers=1_000_000, history_days=730, peer=False),
}
SEED = 8
