"""`python -m bench --tier S|M|L`: generate, build, re-run one day, the floor, the peer, a report.

Every measured piece runs in its own subprocess so its memory is measured alone: the full build
(one Dagster run over the whole history, as `make run` does), the one-day incremental run on top
of it, a second warehouse built over the first year with its own one-day run (the incremental run
must not grow with history), the weekly `model_refit` run after the two-year day, the floor and
the pandas peer on the same files.

`--keep-before-day` also keeps a copy of each warehouse (with its Dagster home and model store)
as it was before its one-day run; `--days-only` then restores those copies and measures only
the one-day runs (and the `model_refit` run after the two-year day), a few minutes at tier L
instead of half an hour, to work on the daily run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from bench.landing import landed_days
from bench.machine import machine_check
from bench.measure import run_measured
from bench.report import MB, MODEL_REFIT, floor_ratios, judge, markdown
from bench.steps import model_durations, run_windows, step_rows
from bench.tiers import SEED, TIERS, Tier

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
PYTHON = sys.executable
# a run folder as it was before its one-day run, beside it (`--keep-before-day`)
KEPT_SUFFIX = ".before_day"
KEPT_INFO = "kept.json"
# what a one-day run reads its day from: the raw tables of the landed extracts, by entity
DAY_TABLES = {
    "order lines": "pos_order_lines",
    "web events": "web_events",
    "contacts": "crm_contacts",
    "email events": "crm_email_events",
    "tickets": "crm_tickets",
}


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def generate(tier: Tier, landing: Path) -> None:
    """Sample data for the tier's history plus one more day for the incremental run."""
    shutil.rmtree(landing, ignore_errors=True)
    landing.mkdir(parents=True)
    end = date.today() - timedelta(days=1)
    code = (
        "from datetime import date; from pathlib import Path; "
        "from pipelines.sample_data import generate; "
        f"generate(Path({str(landing)!r}), customers={tier.customers}, "
        f"days={tier.history_days + 1}, end_date=date.fromisoformat({end.isoformat()!r}), "
        f"seed={SEED})"
    )
    measured = run_measured([PYTHON, "-c", code], env=python_env(), cwd=PROJECT_ROOT)
    if measured.returncode != 0:
        raise SystemExit(f"the generator failed:\n{measured.stderr[-4000:]}")
    log(f"generated {tier.customers:,} customers in {measured.wall_s:.1f} s into {landing}")


def python_env() -> dict[str, str]:
    """This environment, with bytecode cached under bench/work/pycache.

    An installed project imports from cached bytecode after its first run; a shell that sets
    PYTHONDONTWRITEBYTECODE would make every measured process compile dagster, dbt and sklearn
    from source again, so the benchmark keeps its own cache and leaves the venv untouched.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(BENCH_DIR / "work" / "pycache")
    return env


def pipeline_env(data_dir: Path, first_day: date) -> dict[str, str]:
    env = python_env()
    env.update(
        SEGMENTS_DATA_DIR=str(data_dir),
        WAREHOUSE_PATH=str(data_dir / "warehouse.duckdb"),
        DAGSTER_HOME=str(data_dir / "dagster"),
        PIPELINE_START_DATE=first_day.isoformat(),
        PYTHONUNBUFFERED="1",
        # a crash in native code (one L full build died with SIGSEGV in DuckDB, docs/performance.md)
        # writes the Python stack of every thread to the run's log
        PYTHONFAULTHANDLER="1",
    )
    # as `make` sets it: one planned event per asset for a range run (docs/performance.md)
    env.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")
    return env


def fresh_data_dir(data_dir: Path, landing: Path) -> None:
    """An empty warehouse and Dagster instance that read the tier's landed files in place."""
    shutil.rmtree(data_dir, ignore_errors=True)
    (data_dir / "dagster").mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / ".dagster" / "dagster.yaml", data_dir / "dagster" / "dagster.yaml")
    (data_dir / "incoming").symlink_to(landing / "incoming", target_is_directory=True)


def pipeline_run(
    name: str,
    data_dir: Path,
    first_day: date,
    days: list[date],
    single_day: bool,
    model_refit: bool = False,
) -> dict[str, Any]:
    """One measured Dagster run over `days` (a range, or one partition as the schedule runs);
    `model_refit`: the weekly `model_refit` run instead, after the one day in `days`."""
    data_dir = data_dir.resolve()  # DAGSTER_HOME must be absolute
    out = data_dir / f"{name}.json"
    # an earlier run's result must not stand in for this one if this run's process fails
    out.unlink(missing_ok=True)
    if model_refit:
        args = ["--job", "model_refit"]
        log(f"{name}: the model_refit run, after {days[-1]}")
    else:
        args = (
            ["--day", days[0].isoformat()]
            if single_day
            else ["--first", days[0].isoformat(), "--last", days[-1].isoformat()]
        )
        log(f"{name}: {len(days)} day(s) {days[0]} .. {days[-1]}")
    env = pipeline_env(data_dir, first_day)
    parse_for(env, data_dir / f"{name}.parse.log")
    measured = run_measured(
        [PYTHON, "-m", "bench.pipeline_run", *args, "--out", str(out)],
        env=env,
        cwd=PROJECT_ROOT,
        log_path=data_dir / f"{name}.log",
    )
    if not out.exists():
        raise SystemExit(
            f"{name}: the run process exited with {measured.returncode} before writing {out}; "
            f"see {data_dir / (name + '.log')}"
        )
    outcome = json.loads(out.read_text())
    windows, run_start, run_end = run_windows(data_dir / "dagster", outcome["run_id"])
    summary = {
        "job": "model_refit" if model_refit else "daily_refresh",
        "days": 0 if model_refit else len(days),
        "first": days[0].isoformat(),
        "last": days[-1].isoformat(),
        "run_id": outcome["run_id"],
        "success": outcome["success"],
        "failed_steps": outcome["failed_steps"],
        "wall_s": round(measured.wall_s, 2),
        "run_wall_s": round(run_end - run_start, 2),
        "definitions_import_s": round(outcome["definitions_import_s"], 2),
        "peak_rss_mb": round(measured.peak_rss_bytes / MB, 1),
        "steps": step_rows(windows, measured, outcome["step_stages"]),
        "models": model_durations(data_dir / "dagster", outcome["run_id"]),
    }
    log(
        f"{name}: {'success' if summary['success'] else 'FAILED'} in {summary['wall_s']} s, "
        f"peak {summary['peak_rss_mb']:.0f} MB"
    )
    return summary


def what_the_day_held(warehouse: Path, day: date) -> dict[str, Any]:
    """What a one-day run had to handle, read from its warehouse once its process has ended: the
    customers it knows (each one segmented, scored and published), and per raw table the rows
    loaded for the day and in all (quarantined rows of the day apart). A warehouse the run left
    without those tables gives the error instead: the timings must not be lost over it."""
    try:
        return _day_held(warehouse, day)
    except duckdb.Error as error:
        log(f"{warehouse}: could not count what the day held: {error}")
        return {"error": str(error)}


def _day_held(warehouse: Path, day: date) -> dict[str, Any]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        customers = con.sql("select count(*) from marts.customers").fetchall()[0][0]
        rows = {}
        for entity, table in DAY_TABLES.items():
            day_rows, all_rows = con.sql(
                f"select count(*) filter (where _partition_date = $day), count(*) from raw.{table}",
                params={"day": day},
            ).fetchall()[0]
            rows[entity] = {"day": day_rows, "all": all_rows}
        quarantined = con.sql(
            "select count(*) from raw.quarantine where partition_date = $day", params={"day": day}
        ).fetchall()[0][0]
    return {"customers": customers, "raw_rows": rows, "quarantined_on_the_day": quarantined}


def side_run(module: str, args: list[str], work: Path) -> dict[str, Any]:
    """The floor or the peer in its own process: its stage timings, wall and peak memory."""
    name = module.rsplit(".", 1)[1]
    out = work / f"{name}.json"
    out.unlink(missing_ok=True)
    measured = run_measured(
        [PYTHON, "-m", module, *args, "--out", str(out)], env=python_env(), cwd=PROJECT_ROOT
    )
    if measured.returncode != 0:
        # a failed floor or peer is reported, never allowed to lose the pipeline's figures
        error = measured.stderr.strip().splitlines()[-1:] or [f"exit code {measured.returncode}"]
        log(f"{name} failed: {error[0]}")
        return {
            "error": error[0],
            "wall_s": round(measured.wall_s, 2),
            "peak_rss_mb": round(measured.peak_rss_bytes / MB, 1),
            "stages_s": {},
        }
    result = json.loads(out.read_text())
    result["wall_s"] = round(measured.wall_s, 2)
    result["peak_rss_mb"] = round(measured.peak_rss_bytes / MB, 1)
    log(f"{name}: {result['wall_s']} s, peak {result['peak_rss_mb']:.0f} MB")
    return result


def code_location_load_s(env: dict[str, str], repeats: int = 3) -> float:
    """Median seconds for a fresh interpreter to import the code location."""
    walls = []
    for _ in range(repeats):
        measured = run_measured(
            [PYTHON, "-c", "import pipelines.definitions"], env=env, cwd=PROJECT_ROOT
        )
        if measured.returncode != 0:
            raise SystemExit(f"import pipelines.definitions failed:\n{measured.stderr[-4000:]}")
        walls.append(measured.wall_s)
    return round(statistics.median(walls), 2)


def parse_for(env: dict[str, str], log_path: Path) -> None:
    """`dbt parse` with a run's own profile (its WAREHOUSE_PATH), outside the measurement.

    dbt reuses its saved parse (`dbt_project/target/partial_parse.msgpack`) only for the profile
    it was saved with. An installation has one warehouse path, so its runs reuse the parse its
    first run or code location load saved; the benchmark switches between warehouses, so without
    this every one-day run parsed the whole project again (2 to 3 s at tier L, docs/performance.md).
    """
    dbt = Path(PYTHON).with_name("dbt")
    project = str(PROJECT_ROOT / "dbt_project")
    with log_path.open("a") as log_file:
        done = subprocess.run(
            [str(dbt), "parse", "--quiet", "--project-dir", project, "--profiles-dir", project],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    if done.returncode != 0:
        raise SystemExit(f"dbt parse for {env['WAREHOUSE_PATH']} failed; see {log_path}")


def warm_bytecode_cache(env: dict[str, str]) -> float:
    """Import what the measured processes import, once, so none of them pays for compiling."""
    modules = "pipelines.definitions, dbt.cli.main, dbt.adapters.duckdb, pandas, sklearn.cluster"
    measured = run_measured([PYTHON, "-c", f"import {modules}"], env=env, cwd=PROJECT_ROOT)
    if measured.returncode != 0:
        raise SystemExit(f"importing {modules} failed:\n{measured.stderr[-4000:]}")
    return round(measured.wall_s, 2)


def commit() -> str:
    described = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return described + (" (with uncommitted changes in the tree)" if dirty else "")


def machine() -> str:
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return f"{os.cpu_count()} cores, {memory_kb / 2**20:.0f} GB RAM, {platform.system()} {platform.release()}"


def kept_dir(data_dir: Path) -> Path:
    return data_dir.with_name(data_dir.name + KEPT_SUFFIX)


def keep_before_day(data_dir: Path, day: date) -> None:
    """A copy of a run folder as it is before the one-day run of `day` (outside any measurement).

    The whole folder: the warehouse, the Dagster home (the day's run reads the partitions
    materialized before it) and the model store (a daily run reuses models trained on a cadence).
    `incoming` stays a link to the landed files.
    """
    kept = kept_dir(data_dir)
    shutil.rmtree(kept, ignore_errors=True)
    started = time.monotonic()
    shutil.copytree(data_dir, kept, symlinks=True, ignore=shutil.ignore_patterns("*.duckdb.tmp"))
    (kept / KEPT_INFO).write_text(
        json.dumps(
            {
                "day": day.isoformat(),
                "commit": commit(),
                "kept_at": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            }
        )
    )
    log(
        f"kept {data_dir.name} as it is before {day} in {kept} ({time.monotonic() - started:.0f} s)"
    )


def restore_before_day(data_dir: Path, day: date, tier: Tier) -> dict[str, str]:
    """Put back the copy `keep_before_day` made, leaving the copy for the next time."""
    kept = kept_dir(data_dir)
    info_path = kept / KEPT_INFO
    if not info_path.is_file():
        raise SystemExit(
            f"{kept}: no copy of the run folder from before its one-day run; run "
            f"`python -m bench --tier {tier.name} --keep-before-day` once first (it keeps a copy "
            "of each warehouse, about as large as the warehouse)"
        )
    info = json.loads(info_path.read_text())
    if info["day"] != day.isoformat():
        raise SystemExit(
            f"{kept}: the copy was kept before {info['day']}, but the landing's one-day run is "
            f"{day}; the landing changed since, so run `python -m bench --tier {tier.name} "
            "--keep-before-day` again"
        )
    started = time.monotonic()
    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.copytree(kept, data_dir, symlinks=True, ignore=shutil.ignore_patterns(KEPT_INFO))
    log(f"restored {data_dir.name} as it was before {day} ({time.monotonic() - started:.0f} s)")
    return info


def landed_history(landing: Path) -> list[date]:
    days = landed_days(landing / "incoming")
    if len(days) < 4:
        raise SystemExit(
            f"{landing / 'incoming'}: found {len(days)} landed days, expected at least 4"
        )
    return days


@dataclass(frozen=True)
class Warehouse:
    """One warehouse a tier builds: its folder, the build and the one-day run on top of it."""

    folder: Path
    build: str  # run names, as in the results
    one_day: str
    built_days: list[date]
    day: date  # the day after the build, run as the daily schedule runs it


def warehouses(work: Path, days: list[date]) -> list[Warehouse]:
    """The whole history with its next day, and the first year with its next day.

    Both `run_tier` and `run_days_only` take the runs from here, so a kept copy is always
    restored for the day it was kept before.
    """
    half = len(days) // 2
    return [
        Warehouse(work / "full", "full_build", "incremental_2y", days[:-1], days[-1]),
        Warehouse(work / "one_year", "build_1y", "incremental_1y", days[:half], days[half]),
    ]


def one_day_run(warehouse: Warehouse, first_day: date) -> dict[str, Any]:
    """The warehouse's one-day run, one partition as the daily schedule runs it, and what the
    day held."""
    run = pipeline_run(
        warehouse.one_day, warehouse.folder, first_day, [warehouse.day], single_day=True
    )
    run["held"] = what_the_day_held(warehouse.folder / "warehouse.duckdb", warehouse.day)
    return run


def model_refit_run(two_years: Warehouse, first_day: date) -> dict[str, Any]:
    """The weekly `model_refit` run on the two-year warehouse after its one-day run: the three
    models fitted again, as its schedule does the morning after a daily run."""
    return pipeline_run(
        MODEL_REFIT, two_years.folder, first_day, [two_years.day], True, model_refit=True
    )


def duckdb_settings() -> dict[str, str]:
    """The DuckDB settings this environment overrides (`DUCKDB_MEMORY_LIMIT`,
    `DBT_DUCKDB_MEMORY_LIMIT`, ... in the README): a run measured with one says so."""
    return {
        name: value
        for name, value in sorted(os.environ.items())
        if name.startswith(("DUCKDB_", "DBT_DUCKDB_"))
    }


def what_was_measured(
    tier: Tier, days: list[date], commit_at_start: str, check_at_start: dict[str, Any]
) -> dict[str, Any]:
    """The tier, its days (the last one is the one-day run's), when, where, how fast the machine
    was at the start and is now (`bench/machine.py`), the DuckDB settings overridden, and at
    which commit."""
    return {
        "tier": tier.name,
        "customers": tier.customers,
        "history_days": len(days) - 1,
        "first_day": days[0].isoformat(),
        "last_history_day": days[-2].isoformat(),
        "incremental_day": days[-1].isoformat(),
        "measured_at": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "machine": machine(),
        "machine_check": {"start": check_at_start, "end": machine_check()},
        "duckdb_settings": duckdb_settings(),
        # others commit to the shared tree while a tier runs: say so when the commit moved
        "commit": commit_at_start
        if commit() == commit_at_start
        else f"{commit_at_start} at the start, {commit()} at the end",
    }


def run_tier(
    tier: Tier, work: Path, skip_generate: bool, peer: bool, keep: bool = False
) -> dict[str, Any]:
    landing = work / "landing"
    if not (skip_generate and landed_days(landing / "incoming")):
        generate(tier, landing)
    days = landed_history(landing)
    first, history = days[0], days[:-1]
    built = warehouses(work, days)
    full_dir = built[0].folder

    commit_at_start = commit()
    check_at_start = machine_check()
    runs: dict[str, Any] = {}
    for warehouse in built:
        # a copy kept from an earlier build would not be this build's
        shutil.rmtree(kept_dir(warehouse.folder), ignore_errors=True)
    first_load_s = warm_bytecode_cache(pipeline_env(full_dir, first))
    log(f"first import of the code location and dbt (fills the bytecode cache): {first_load_s} s")
    for warehouse in built:
        fresh_data_dir(warehouse.folder, landing)
        runs[warehouse.build] = pipeline_run(
            warehouse.build, warehouse.folder, first, warehouse.built_days, single_day=False
        )
        if keep:
            keep_before_day(warehouse.folder, warehouse.day)
        runs[warehouse.one_day] = one_day_run(warehouse, first)
    runs[MODEL_REFIT] = model_refit_run(built[0], first)

    span = [
        "--incoming",
        str(landing / "incoming"),
        "--first",
        first.isoformat(),
        "--last",
        history[-1].isoformat(),
    ]
    floor = side_run("bench.floor", [*span, "--database", str(work / "floor.duckdb")], work)
    peer_result = side_run("bench.peer", span, work) if peer else None
    load_s = code_location_load_s(pipeline_env(full_dir, first))
    log(f"code location load: {load_s} s (median of 3)")

    result: dict[str, Any] = {
        **what_was_measured(tier, days, commit_at_start, check_at_start),
        "runs": runs,
        "floor": floor,
        "floor_ratios": floor_ratios(runs["full_build"], floor) if "error" not in floor else [],
        "peer": peer_result,
        "code_location_load_s": load_s,
        "first_load_s": first_load_s,
    }
    result["targets"] = judge(result)
    return result


def run_days_only(tier: Tier, work: Path) -> dict[str, Any]:
    """Only the one-day runs, each on its warehouse as it was kept before the day, and the weekly
    `model_refit` run after the two-year day."""
    landing = work / "landing"
    days = landed_history(landing)
    built = warehouses(work, days)
    commit_at_start = commit()
    check_at_start = machine_check()
    first_load_s = warm_bytecode_cache(pipeline_env(built[0].folder, days[0]))
    runs: dict[str, Any] = {}
    kept: dict[str, dict[str, str]] = {}
    for warehouse in built:
        kept[warehouse.one_day] = restore_before_day(warehouse.folder, warehouse.day, tier)
        runs[warehouse.one_day] = one_day_run(warehouse, days[0])
    runs[MODEL_REFIT] = model_refit_run(built[0], days[0])
    result: dict[str, Any] = {
        **what_was_measured(tier, days, commit_at_start, check_at_start),
        "kind": "days_only",
        "kept": kept,
        "runs": runs,
        "floor": None,
        "floor_ratios": [],
        "peer": None,
        "code_location_load_s": None,
        "first_load_s": first_load_s,
    }
    result["targets"] = judge(result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", choices=sorted(TIERS), default="S")
    parser.add_argument(
        "--skip-generate", action="store_true", help="reuse bench/work/<tier>/landing"
    )
    parser.add_argument(
        "--peer",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the pandas peer (default: at S and M)",
    )
    kept = parser.add_mutually_exclusive_group()
    kept.add_argument(
        "--keep-before-day",
        action="store_true",
        help="also keep a copy of each warehouse from before its one-day run (for --days-only)",
    )
    kept.add_argument(
        "--days-only",
        action="store_true",
        help="only the one-day runs (two years, one year) on the copies --keep-before-day kept, "
        "and the model_refit run after the two-year day; writes <tier>-days.json and .md",
    )
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args(argv)

    tier = TIERS[args.tier]
    work = (args.work_dir or BENCH_DIR / "work" / tier.name).resolve()
    work.mkdir(parents=True, exist_ok=True)
    peer = tier.peer if args.peer is None else args.peer
    if args.days_only:
        result, stem = run_days_only(tier, work), f"{tier.name}-days"
    else:
        result, stem = (
            run_tier(tier, work, args.skip_generate, peer, args.keep_before_day),
            tier.name,
        )

    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / f"{stem}.json").write_text(json.dumps(result, indent=2))
    table = markdown(result)
    (args.results_dir / f"{stem}.md").write_text(table)
    print(table)
    failed = [name for name, run in result["runs"].items() if not run["success"]]
    return 1 if failed else 0
