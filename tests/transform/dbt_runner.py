"""Run the real dbt project against a test warehouse, keeping dbt's files out of the project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

from pipelines.settings import DBT_PROJECT_DIR

DBT = Path(sys.executable).parent / "dbt"


def dbt_process(
    warehouse: Path, work_dir: Path, args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`dbt <args>` on `warehouse` with dbt's files under `work_dir`, in `env` (by default this
    process's environment)."""
    env = {
        **(os.environ if env is None else env),
        "WAREHOUSE_PATH": str(warehouse),
        # the project's own target/ holds the manifest Dagster loads: tests write elsewhere
        "DBT_TARGET_PATH": str(work_dir / "target"),
        "DBT_LOG_PATH": str(work_dir / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    return subprocess.run(
        [str(DBT), *args, "--profiles-dir", str(DBT_PROJECT_DIR)],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def run_dbt(
    warehouse: Path, work_dir: Path, args: list[str], *, check: bool = True
) -> dict[str, Any]:
    """`dbt <args>` on `warehouse`; returns run_results.json, fails the test with dbt's output.

    With `check=False` a failing dbt (a failed data test) returns its results instead; the exit
    code is in `["returncode"]`.
    """
    completed = dbt_process(warehouse, work_dir, args)
    if check and completed.returncode != 0:
        raise AssertionError(
            f"dbt {' '.join(args)} failed on {warehouse} (exit {completed.returncode}):\n"
            f"{completed.stdout[-6000:]}\n{completed.stderr[-2000:]}"
        )
    run_results = work_dir / "target" / "run_results.json"
    if not run_results.exists():
        raise AssertionError(
            f"dbt {' '.join(args)} wrote no run_results.json:\n{completed.stdout[-6000:]}"
        )
    results = json.loads(run_results.read_text())
    results["returncode"] = completed.returncode
    return results


def rebuild_features_through_the_stream(warehouse: Path, work_dir: Path, since: str) -> Path:
    """A copy of `warehouse` whose feature snapshots from `since` on are built again through the
    stream of changes (what a build of many snapshots uses), to set beside a daily run's direct
    sums."""
    streamed = work_dir / "streamed.duckdb"
    shutil.copy(warehouse, streamed)
    with duckdb.connect(str(streamed)) as con:
        con.execute("delete from marts.customer_features where as_of_date >= ?", [since])
    vars_ = json.dumps({"feature_snapshots_summed_directly": 0})
    run_dbt(streamed, work_dir, ["run", "--select", "customer_features", "--vars", vars_])
    compiled = next((work_dir / "target" / "compiled").rglob("customer_features.sql")).read_text()
    assert "changes_per_snapshot" in compiled, "the rebuild did not use the stream of changes"
    return streamed
