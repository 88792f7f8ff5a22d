"""Sensors that turn finished runs into alerts. They read the Dagster event log, never the warehouse.

- `quality_alerts_on_run_failure`: a failed run gives one alert per failed check and one per failed
  step that was not a failed blocking check (that one is already alerted as its check).
- `quality_alerts_on_warnings`: a successful run can still carry failed WARN checks; one alert each.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from pipelines.quality.alerts import Alert, AlertSettings, dispatch, run_url


def _metadata_value(metadata: dict[str, Any], key: str) -> Any:
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


def _root_cause(error: Any) -> str:
    """The innermost error's first line: Dagster wraps the user's exception in its own."""
    if error is None:
        return "the step failed"
    while getattr(error, "cause", None) is not None:
        error = error.cause
    lines = error.message.strip().splitlines()
    return lines[0] if lines else error.cls_name or "the step failed"


def _assets_of_step(assets: list[str], shown: int = 3) -> str | None:
    """`raw/crm_contacts`, or `marts/customers, marts/orders, ... and 9 more` for a dbt step."""
    if not assets:
        return None
    more = f" and {len(assets) - shown} more" if len(assets) > shown else ""
    return ", ".join(sorted(assets)[:shown]) + more


def alerts_for_run(instance: dg.DagsterInstance, run: dg.DagsterRun, ui_url: str) -> list[Alert]:
    """Every failure recorded in the run's event log, as alerts with stable ids."""
    link = run_url(ui_url, run.run_id)
    alerts: list[Alert] = []
    failed_check_steps: set[str] = set()
    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        event = record.dagster_event
        evaluation = event.event_specific_data
        if evaluation.passed:
            continue
        asset = evaluation.asset_key.to_user_string()
        metadata = dict(evaluation.metadata or {})
        failed_check_steps.add(event.step_key or "")
        severity = getattr(evaluation.severity, "value", str(evaluation.severity))
        alerts.append(
            Alert(
                alert_id=f"{run.run_id}:{asset}:{evaluation.check_name}",
                kind="check_failed",
                severity=severity,
                run_id=run.run_id,
                job_name=run.job_name,
                asset=asset,
                check=evaluation.check_name,
                summary=evaluation.description or f"{evaluation.check_name} failed on {asset}",
                run_url=link,
                failed_expectations=list(_metadata_value(metadata, "failed") or []),
                data_docs=_metadata_value(metadata, "data_docs"),
            )
        )
    if run.status != dg.DagsterRunStatus.FAILURE:
        return alerts
    # step failures carry no asset key; the run's planned materializations say which step was which
    step_assets: dict[str, list[str]] = {}
    for record in instance.all_logs(
        run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ):
        event = record.dagster_event
        step_assets.setdefault(event.step_key or "", []).append(
            event.event_specific_data.asset_key.to_user_string()
        )
    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        if event.step_key in failed_check_steps:
            continue
        message = _root_cause(event.event_specific_data.error)
        alerts.append(
            Alert(
                alert_id=f"{run.run_id}:step:{event.step_key}",
                kind="step_failed",
                severity="ERROR",
                run_id=run.run_id,
                job_name=run.job_name,
                asset=_assets_of_step(step_assets.get(event.step_key or "", [])),
                check=None,
                summary=f"Step {event.step_key} failed: {message}",
                run_url=link,
            )
        )
    if not alerts:
        alerts.append(
            Alert(
                alert_id=f"{run.run_id}:run",
                kind="run_failed",
                severity="ERROR",
                run_id=run.run_id,
                job_name=run.job_name,
                asset=None,
                check=None,
                summary=f"Run of {run.job_name} failed before any step failed",
                run_url=link,
            )
        )
    return alerts


def alert_for_finished_run(context: dg.RunStatusSensorContext) -> list[dict[str, Any]]:
    settings = AlertSettings.from_env()
    records = dispatch(
        alerts_for_run(context.instance, context.dagster_run, settings.ui_url), settings
    )
    for record in records:
        context.log.info(f"alert {record['alert_id']}: {record['deliveries'] or 'jsonl only'}")
    return records


@dg.run_failure_sensor(
    name="quality_alerts_on_run_failure",
    description="One alert per failed check or step of a failed run (webhook, email, JSONL).",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    # `make run` executes in process: its runs carry no code location, so match every run
    monitor_all_code_locations=True,
)
def alert_on_run_failure(context: dg.RunFailureSensorContext) -> None:
    alert_for_finished_run(context)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="quality_alerts_on_warnings",
    description="One alert per failed WARN check of a successful run (webhook, email, JSONL).",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    # `make run` executes in process: its runs carry no code location, so match every run
    monitor_all_code_locations=True,
)
def alert_on_warnings(context: dg.RunStatusSensorContext) -> None:
    alert_for_finished_run(context)
