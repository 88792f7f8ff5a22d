"""dbt models as Dagster assets: one asset per model, keyed `[schema, model]`."""

import os
import shutil
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)
from dagster_duckdb import DuckDBResource
from pydantic import Field

from pipelines.resources import WAREHOUSE_POOL
from pipelines.transform.build_args import dbt_build_args
from pipelines.transform.project import dbt_project


class WarehouseTranslator(DagsterDbtTranslator):
    """Models are keyed by the schema they land in (`marts/customer_features`), grouped by layer."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "model":
            return dg.AssetKey([dbt_resource_props["config"]["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "model":
            return dbt_resource_props["config"]["schema"]
        return super().get_group_name(dbt_resource_props)


translator = WarehouseTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

# dagster-dbt gives every dbt command a target folder of its own (`<op>-<run id>-<uuid>` under the
# project's target/: manifest, compiled SQL, run results, dbt.log; about 12 MB). The newest are kept
# to look into; without pruning, a daily schedule adds 4 GB a year.
KEEP_DBT_RUN_FOLDERS = 14


def prune_run_folders(
    target_dir: Path, prefix: str, keep: int = KEEP_DBT_RUN_FOLDERS
) -> list[Path]:
    """Delete all but the `keep` newest folders named `<prefix>*` in `target_dir`; return them."""
    folders = sorted(
        (p for p in target_dir.glob(f"{prefix}*") if p.is_dir()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for folder in folders[keep:]:
        shutil.rmtree(folder, ignore_errors=True)
    return folders[keep:]


class TransformConfig(dg.Config):
    """Run config of the dbt step (Launchpad: ops.warehouse_models.config)."""

    full_refresh: bool = Field(
        default=False,
        description="Rebuild the incremental models (order/event stores, identity links, feature "
        "history) from all raw rows instead of processing only the rows loaded since the last run.",
    )
    features_as_of_date: str | None = Field(
        default=None,
        description="Pin the latest feature snapshot to this day (YYYY-MM-DD); default: the day "
        "after the newest activity.",
    )


@dbt_assets(
    manifest=dbt_project().manifest_path,
    project=dbt_project(),
    dagster_dbt_translator=translator,
    pool=WAREHOUSE_POOL,
)
def warehouse_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    duckdb: DuckDBResource,
    config: TransformConfig,
) -> Iterator[Any]:
    """Build the selected dbt models and run their tests against the warehouse file."""
    # dbt runs in a subprocess that reads the warehouse path from its profile's env_var
    os.environ["WAREHOUSE_PATH"] = duckdb.database
    as_of = date.fromisoformat(config.features_as_of_date) if config.features_as_of_date else None
    args = dbt_build_args(full_refresh=config.full_refresh, features_as_of_date=as_of)
    invocation = dbt.cli(args, context=context)
    yield from invocation.stream()
    op_name = context.op_execution_context.op.name
    removed = prune_run_folders(invocation.target_path.parent, prefix=f"{op_name}-")
    if removed:
        context.log.info(
            f"Removed {len(removed)} older dbt run folder(s) from {invocation.target_path.parent}; "
            f"the newest {KEEP_DBT_RUN_FOLDERS} stay"
        )
