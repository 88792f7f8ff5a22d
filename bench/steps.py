"""Per-step wall time from a run's Dagster event log, and the peak memory sampled in each step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from bench.measure import MeasuredRun


@dataclass(frozen=True)
class StepWindow:
    """When one step of a run started and finished (epoch seconds) and how it ended."""

    step_key: str
    started_at: float
    finished_at: float
    outcome: str

    @property
    def wall_s(self) -> float:
        return self.finished_at - self.started_at


def run_windows(dagster_home: Path, run_id: str) -> tuple[list[StepWindow], float, float]:
    """Steps of `run_id` in start order, and the run's own start and end from its event log."""
    kinds = {
        dg.DagsterEventType.RUN_START,
        dg.DagsterEventType.RUN_SUCCESS,
        dg.DagsterEventType.RUN_FAILURE,
        dg.DagsterEventType.STEP_START,
        dg.DagsterEventType.STEP_SUCCESS,
        dg.DagsterEventType.STEP_FAILURE,
        dg.DagsterEventType.STEP_SKIPPED,
    }
    starts: dict[str, float] = {}
    ends: dict[str, tuple[float, str]] = {}
    run_start = run_end = None
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for entry in instance.all_logs(run_id, of_type=kinds):
            kind = entry.dagster_event.event_type
            if kind == dg.DagsterEventType.RUN_START:
                run_start = entry.timestamp
            elif kind in (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE):
                run_end = entry.timestamp
            elif kind == dg.DagsterEventType.STEP_START:
                starts[entry.step_key] = entry.timestamp
            else:
                outcome = kind.value.removeprefix("STEP_").lower()
                ends[entry.step_key] = (entry.timestamp, outcome)
    if run_start is None or run_end is None:
        raise ValueError(f"run {run_id} in {dagster_home}: no RUN_START/RUN_SUCCESS in its events")
    windows = [
        StepWindow(key, started, ends[key][0], ends[key][1])
        for key, started in starts.items()
        if key in ends
    ]
    return sorted(windows, key=lambda w: w.started_at), run_start, run_end


def step_rows(
    windows: list[StepWindow], measured: MeasuredRun, stages: dict[str, str]
) -> list[dict[str, object]]:
    """One row per step: stage, wall seconds, peak MB of the run's process tree during it."""
    rows = []
    for window in windows:
        peak = measured.peak_between(window.started_at, window.finished_at)
        rows.append(
            {
                "step": window.step_key,
                "stage": stages.get(window.step_key, "other"),
                "wall_s": round(window.wall_s, 3),
                "peak_rss_mb": round(peak / 2**20, 1) if peak is not None else None,
                "outcome": window.outcome,
            }
        )
    return rows


def model_durations(dagster_home: Path, run_id: str) -> list[dict[str, object]]:
    """Assets materialized inside a multi-asset step (the dbt models) with the seconds dbt
    reports for each (`Execution Duration` metadata), slowest first."""
    models = []
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        entries = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        for entry in entries:
            materialization = entry.dagster_event.event_specific_data.materialization
            duration = materialization.metadata.get("Execution Duration")
            if duration is not None:
                models.append(
                    {
                        "asset": materialization.asset_key.to_user_string(),
                        "step": entry.step_key,
                        "seconds": round(float(duration.value), 3),
                    }
                )
    return sorted(models, key=lambda m: m["seconds"], reverse=True)
