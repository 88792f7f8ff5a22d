"""The benchmark's own parts: what it reads, how it scores RFM, how it measures and judges.

No timing is asserted: timings belong in bench/results and docs/performance.md.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from bench import floor, peer
from bench.landing import landed_days, landed_files
from bench.measure import run_measured
from bench.report import judge, markdown
from bench.steps import run_windows
from pipelines.ingest.schema import quarantine_ddl
from tests.transform.raw_tables import create_raw_tables, espresso_line, insert_rows

ORDER_HEADER = "order_id,line_number,ordered_at,channel,store_id,customer_id,sku,category_code,quantity,unit_price,discount_amount"


def write_landing(incoming: Path) -> None:
    """Three days of a café: two known customers, an anonymous order, a return, three formats."""
    day1 = incoming / "pos" / "2025-03-01"
    day1.mkdir(parents=True)
    (day1 / "order_lines_store1.csv").write_text(
        f"{ORDER_HEADER}\n"
        "o1,1,2025-03-01 09:00:00,in_store,s1,c1,sku1,coffee,2,5.0,1.0\n"
        "o1,2,2025-03-01 09:00:00,in_store,s1,c1,sku2,pastry,1,3.0,\n"
        "o2,1,2025-03-01 10:00:00,in_store,s1,,sku1,coffee,1,5.0,\n"
    )
    day2 = incoming / "pos" / "2025-03-02"
    day2.mkdir(parents=True)
    with gzip.open(day2 / "order_lines.csv.gz", "wt") as handle:
        handle.write(f"{ORDER_HEADER}\no3,1,2025-03-02 12:00:00,online,,c2,sku9,beans,1,20.0,0\n")
    day3 = incoming / "pos" / "2025-03-03"
    day3.mkdir(parents=True)
    lines = [
        {"order_id": "o4", "line_number": 1, "ordered_at": "2025-03-03 08:00:00",
         "channel": "in_store", "store_id": "s1", "customer_id": "c1", "sku": "sku2",
         "category_code": "pastry", "quantity": 1, "unit_price": 4.0, "discount_amount": 0.0},
        {"order_id": "o5", "line_number": 1, "ordered_at": "2025-03-03 08:30:00",
         "channel": "in_store", "store_id": "s1", "customer_id": "c1", "sku": "sku2",
         "category_code": "pastry", "quantity": -1, "unit_price": 3.0, "discount_amount": 0.0},
    ]  # fmt: skip
    (day3 / "order_lines.ndjson").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    crm = incoming / "crm" / "2025-03-01"
    crm.mkdir(parents=True)
    (crm / "contacts.csv").write_text(
        "contact_id,email,created_at,updated_at\n"
        "c1,ann@example.com,2025-01-01 00:00:00,2025-01-01 00:00:00\n"
        "c2,bob@example.com,2025-01-02 00:00:00,2025-01-02 00:00:00\n"
    )
    (crm / "email_events.csv").write_text(
        "email,event_type,occurred_at\nann@example.com,open,2025-03-01 07:00:00\n"
    )
    web = incoming / "web" / "2025-03-02"
    web.mkdir(parents=True)
    (web / "events.ndjson").write_text(
        json.dumps({"event_timestamp": "2025-03-02 11:59:00", "event_name": "purchase",
                    "user_pseudo_id": "u1", "session_id": "1", "transaction_id": "o3"}) + "\n"
    )  # fmt: skip


# c1: orders o1 (12.0 after the 1.0 discount) and o4 (4.0), and the return o5 (-3.0), last on
# 03-03; c2: o3 (20.0) on 03-02. As of 03-04, the day after the newest order.
EXPECTED_RFM = {"c1": (1, 2, 13.0), "c2": (2, 1, 20.0)}


@pytest.fixture
def incoming(tmp_path: Path) -> Path:
    write_landing(tmp_path / "incoming")
    return tmp_path / "incoming"


def test_files_are_grouped_by_entity_and_limited_to_the_days_asked(incoming: Path) -> None:
    files = landed_files(incoming, date(2025, 3, 1), date(2025, 3, 2))

    assert set(files) == {"pos_order_lines", "crm_contacts", "crm_email_events", "web_events"}
    assert {fmt: len(paths) for fmt, paths in files["pos_order_lines"].items()} == {"csv": 2}
    assert landed_days(incoming) == [date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)]


def test_floor_scores_rfm_from_every_format(incoming: Path, tmp_path: Path) -> None:
    database = tmp_path / "floor.duckdb"

    result = floor.run_floor(incoming, date(2025, 3, 1), date(2025, 3, 3), database)

    assert result["rows"] == {
        "crm_contacts": 2,
        "crm_email_events": 1,
        "pos_order_lines": 6,
        "web_events": 1,
    }
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.sql("select customer_id, recency_days, frequency, monetary from rfm").fetchall()
    assert {r[0]: (r[1], r[2], pytest.approx(r[3])) for r in rows} == EXPECTED_RFM
    assert result["clusters"] == 2  # two customers cannot make four distinct clusters


def test_pandas_peer_scores_the_same_rfm_as_the_floor(incoming: Path) -> None:
    frames = peer.read_all(landed_files(incoming, date(2025, 3, 1), date(2025, 3, 3)))

    features = peer.rfm(frames["pos_order_lines"])

    scored = {
        customer: (int(row.recency_days), int(row.frequency), pytest.approx(row.monetary))
        for customer, row in features.iterrows()
    }
    assert scored == EXPECTED_RFM


def test_memory_of_a_child_process_counts_towards_the_peak(tmp_path: Path) -> None:
    # the measured process starts a child that holds 300 MB, as the run process starts dbt
    child = "b = bytearray(300 * 2**20); import time; time.sleep(1.5)"
    parent = (
        f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}], check=True)"
    )

    measured = run_measured([sys.executable, "-c", parent])

    assert measured.returncode == 0
    assert measured.peak_rss_bytes >= 300 * 2**20
    assert measured.peak_between(measured.finished_at + 1, measured.finished_at + 2) is None


def test_step_windows_come_from_the_runs_event_log(tmp_path: Path) -> None:
    @dg.op
    def load_orders() -> int:
        return 1

    @dg.op
    def score_customers(orders: int) -> int:
        raise ValueError(f"no customers in {orders} orders")

    @dg.job
    def refresh() -> None:
        score_customers(load_orders())

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        result = refresh.execute_in_process(instance=instance, raise_on_error=False)

    windows, run_start, run_end = run_windows(tmp_path, result.run_id)

    assert [(w.step_key, w.outcome) for w in windows] == [
        ("load_orders", "success"),
        ("score_customers", "failure"),
    ]
    assert run_start <= windows[0].started_at <= windows[-1].finished_at <= run_end


def measured_result(tier: str, full_s: float, incremental_1y: float, incremental_2y: float) -> dict:
    def run(wall: float) -> dict:
        return {"wall_s": wall, "run_wall_s": wall, "peak_rss_mb": 6000.0, "success": True,
                "failed_steps": [], "days": 1, "steps": []}  # fmt: skip

    return {
        "tier": tier,
        "customers": 1,
        "history_days": 730,
        "first_day": "2024-01-01",
        "last_history_day": "2025-12-30",
        "incremental_day": "2025-12-31",
        "measured_at": "now",
        "machine": "test",
        "commit": "abc",
        "runs": {
            "full_build": run(full_s),
            "incremental_1y": run(incremental_1y),
            "incremental_2y": run(incremental_2y),
        },
        "floor": {"wall_s": 400.0, "peak_rss_mb": 1.0, "stages_s": {}},
        "peer": None,
        "code_location_load_s": 6.0,
    }


def test_targets_are_judged_at_their_own_tier_only() -> None:
    at_l = {row["target"]: row["status"] for row in judge(measured_result("L", 700, 40, 60))}
    at_s = {row["target"]: row["status"] for row in judge(measured_result("S", 700, 40, 60))}

    assert at_l["full build ≤ 15 min (s)"] == "met"
    assert at_l["full build ≤ 2x floor (ratio)"] == "met"  # 700 s against a 400 s floor
    assert at_l["peak memory ≤ 8 GB (MB)"] == "met"
    assert at_l["one-day incremental ≤ 90 s (s, 2 years of history)"] == "met"
    flat = "incremental no slower at 2 years than at 1 (ratio, ≤ 1.10 allows noise)"
    assert at_l[flat] == "missed"  # 60 s at two years against 40 s at one
    assert at_l["code location loads ≤ 5 s (s, median of 3)"] == "missed"
    assert at_l["≥ 10x faster than the pandas peer (peer s / pipeline s)"] == "not measured"
    assert at_s["full build ≤ 15 min (s)"] == "L target, not judged at S"
    assert at_s["code location loads ≤ 5 s (s, median of 3)"] == "missed"


def test_markdown_reports_every_run_and_target() -> None:
    result = measured_result("M", 700, 40, 41)
    result["targets"] = judge(result)

    table = markdown(result)

    for name in ("full_build", "incremental_1y", "incremental_2y"):
        assert f"| {name} |" in table
    assert "| code location loads ≤ 5 s (s, median of 3) | 6.00 | missed |" in table
    assert "Pandas peer: not run at this tier" in table


def test_floor_loads_a_later_file_with_a_renamed_column(
    incoming: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one file per read, so the renamed file arrives after the table exists
    monkeypatch.setattr(floor, "FILES_PER_READ", 1)
    later = incoming / "crm" / "2025-03-02"
    later.mkdir(parents=True)
    (later / "contacts.csv").write_text(
        "contact_id,email,phone_number,created_at,updated_at\n"
        "c3,cy@example.com,0123,2025-03-02 00:00:00,2025-03-02 00:00:00\n"
    )

    result = floor.run_floor(incoming, date(2025, 3, 1), date(2025, 3, 3), tmp_path / "f.duckdb")

    assert result["rows"]["crm_contacts"] == 3


def test_a_failed_run_is_not_reported_with_an_earlier_runs_result(tmp_path: Path) -> None:
    from bench.cli import pipeline_run

    # an earlier, successful run of the same name left its result behind
    (tmp_path / "incremental_2y.json").write_text(
        json.dumps({"run_id": "earlier", "success": True, "failed_steps": []})
    )
    # this run cannot start: the Dagster home it is given does not exist
    with pytest.raises(SystemExit, match="exited with 1 before writing"):
        pipeline_run("incremental_2y", tmp_path, date(2025, 3, 1), [date(2025, 3, 2)], True)


def test_a_crash_in_native_code_leaves_the_python_stack_in_the_runs_log(tmp_path: Path) -> None:
    import subprocess

    from bench.cli import pipeline_env

    # a run process that dies in native code, as one L full build did inside DuckDB
    crash = "import ctypes\ndef publish():\n    ctypes.string_at(0)\npublish()"
    env = pipeline_env(tmp_path, date(2025, 3, 1))

    died = subprocess.run([sys.executable, "-c", crash], env=env, capture_output=True, text=True)

    assert died.returncode != 0
    assert "Fatal Python error: Segmentation fault" in died.stderr
    assert "in publish" in died.stderr


def test_a_warehouse_kept_before_the_day_is_restored_as_it_was_every_time(
    tmp_path: Path,
) -> None:
    from bench.cli import keep_before_day, kept_dir, restore_before_day
    from bench.tiers import TIERS

    landing = tmp_path / "landing" / "incoming"
    landing.mkdir(parents=True)
    full = tmp_path / "full"
    (full / "dagster").mkdir(parents=True)
    (full / "dagster" / "runs.txt").write_text("the full build\n")
    (full / "incoming").symlink_to(landing, target_is_directory=True)
    with duckdb.connect(str(full / "warehouse.duckdb")) as con:
        con.execute("create table orders as select 1 as order_id")
    day = date(2025, 3, 4)

    keep_before_day(full, day)
    for _ in range(2):
        # the day's run changes the warehouse and the Dagster home
        with duckdb.connect(str(full / "warehouse.duckdb")) as con:
            con.execute("insert into orders values (2)")
        (full / "dagster" / "runs.txt").write_text("the full build\nthe day\n")

        restore_before_day(full, day, TIERS["S"])

        with duckdb.connect(str(full / "warehouse.duckdb"), read_only=True) as con:
            assert con.sql("select order_id from orders").fetchall() == [(1,)]
        assert (full / "dagster" / "runs.txt").read_text() == "the full build\n"
        assert (full / "incoming").is_symlink() and (full / "incoming").resolve() == landing
        assert not (full / "kept.json").exists()
    assert json.loads((kept_dir(full) / "kept.json").read_text())["day"] == "2025-03-04"


def test_restoring_without_a_kept_copy_or_for_another_day_says_what_to_run(
    tmp_path: Path,
) -> None:
    from bench.cli import keep_before_day, restore_before_day
    from bench.tiers import TIERS

    full = tmp_path / "full"
    full.mkdir()
    with pytest.raises(SystemExit, match=r"full\.before_day: no copy .*--tier L --keep-before-day"):
        restore_before_day(full, date(2025, 3, 4), TIERS["L"])

    keep_before_day(full, date(2025, 3, 4))
    with pytest.raises(
        SystemExit, match=r"kept before 2025-03-04, but .* one-day run is 2025-03-05"
    ):
        restore_before_day(full, date(2025, 3, 5), TIERS["L"])


def test_a_days_only_report_sets_the_days_side_by_side_and_shows_the_model_refit_run() -> None:
    result = measured_result("L", 700.0, 40.0, 60.0)
    del result["runs"]["full_build"]
    result["runs"]["model_refit_2y"] = dict(
        result["runs"]["incremental_2y"], job="model_refit", days=0, wall_s=41.0
    )
    for name, steps in (
        ("incremental_2y", {"warehouse_models": 30.0, "customer_segments": 3.0}),
        ("incremental_1y", {"warehouse_models": 20.0, "customer_segments": 2.0}),
        ("model_refit_2y", {"models__churn_model": 25.0, "models__customer_clusterer": 9.0}),
    ):
        result["runs"][name]["steps"] = [
            {"step": step, "stage": "x", "wall_s": wall_s, "peak_rss_mb": 1024.0}
            for step, wall_s in steps.items()
        ]
    result |= {"kind": "days_only", "floor": None, "code_location_load_s": None}
    result["kept"] = {
        name: {"day": "2025-12-31", "kept_at": "2026-01-01 10:00 UTC", "commit": "abc"}
        for name in ("incremental_2y", "incremental_1y")
    }
    result["targets"] = judge(result)

    table = markdown(result)

    assert table.startswith("# Benchmark tier L: the one-day runs only")
    two_years, refit = table.split("## The weekly model refit (model_refit_2y")
    assert "| warehouse_models | 30.0 | 20.0 | 1.50x |" in two_years
    assert "| whole run (process) | 60.0 | 40.0 | 1.50x |" in two_years
    assert "| model_refit_2y | - | 41.0 |" in two_years, "no days loaded: it fits models"
    assert "41.0 s process wall" in refit
    assert "| models__churn_model | 25.0 | 1,024 |" in refit
    assert "| models__customer_clusterer | 9.0 | 1,024 |" in refit
    assert "incremental_2y on the copy kept 2026-01-01 10:00 UTC at commit abc" in table
    assert "| one-day incremental ≤ 90 s (s, 2 years of history) | 60.00 | met |" in table
    assert "refit day" not in table
    assert "| full build ≤ 15 min (s) | - | not measured |" in table
    assert "Pandas peer" not in table


@pytest.mark.parametrize(
    "args",
    [["--job", "model_refit", "--day", "2026-01-01"], ["--job", "daily_refresh"], []],
)
def test_a_run_is_one_of_days_or_the_model_refit(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.pipeline_run import main

    with pytest.raises(SystemExit):
        main([*args, "--out", str(tmp_path / "run.json")])
    assert "give --day or --first/--last for daily_refresh, neither for model_refit" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "run.json").exists()


def test_a_measured_run_finds_dbts_saved_parse_for_its_own_warehouse(tmp_path: Path) -> None:
    """An installation's daily run reuses dbt's saved parse; the benchmark, switching warehouses,
    parsed the whole project in every one-day run until it parsed for each run beforehand."""
    import subprocess

    from bench.cli import PROJECT_ROOT, PYTHON, parse_for, pipeline_env

    def parse(env: dict[str, str]) -> str:
        project = str(PROJECT_ROOT / "dbt_project")
        return subprocess.run(
            [str(Path(PYTHON).with_name("dbt")), "parse", "--project-dir", project,
             "--profiles-dir", project],
            env=env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip

    two_years = pipeline_env(tmp_path / "full", date(2025, 1, 1))
    one_year = pipeline_env(tmp_path / "one_year", date(2025, 1, 1))
    parse_for(two_years, tmp_path / "parse.log")
    assert "Unable to do partial parsing" not in parse(two_years)
    assert "Unable to do partial parsing because profile has changed" in parse(one_year)


def test_what_a_one_day_run_had_to_handle_is_counted_and_set_beside_the_other_day(
    tmp_path: Path,
) -> None:
    from bench.cli import what_the_day_held

    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        create_raw_tables(con)
        for day, order_ids in (("2025-03-02", ["o1", "o2"]), ("2025-03-03", ["o3"])):
            lines = [
                espresso_line(o, f"{day} 09:00:00", email="ann@example.com") for o in order_ids
            ]
            insert_rows(
                con, "pos_order_lines", lines, partition_date=day, loaded_at=f"{day} 23:00:00"
            )
        con.execute(quarantine_ddl())
        con.execute(
            "insert into raw.quarantine (source, entity, partition_date, reason) values "
            "('pos', 'order_lines', date '2025-03-03', 'malformed_row'), "
            "('pos', 'order_lines', date '2025-03-02', 'malformed_row')"
        )
        con.execute("create schema marts")
        con.execute(
            "create table marts.customers as select * from (values ('k1'), ('k2')) t(customer_key)"
        )

    held = what_the_day_held(warehouse, date(2025, 3, 3))

    assert held["customers"] == 2
    assert held["raw_rows"]["order lines"] == {"day": 1, "all": 3}
    assert held["raw_rows"]["web events"] == {"day": 0, "all": 0}
    assert held["quarantined_on_the_day"] == 1
    # a warehouse the run left without its marts costs the counts, never the timings
    bare = tmp_path / "bare.duckdb"
    duckdb.connect(str(bare)).close()
    assert "error" in what_the_day_held(bare, date(2025, 3, 3))

    result = measured_result("L", 700.0, 40.0, 60.0)
    result["runs"]["incremental_2y"]["held"] = held
    result["runs"]["incremental_1y"]["held"] = {
        "customers": 1,
        "raw_rows": {entity: {"day": 1, "all": 2} for entity in held["raw_rows"]},
        "quarantined_on_the_day": 0,
    }
    result["targets"] = judge(result)
    table = markdown(result)

    assert "| customers known (each segmented, scored, published) | 2 | 1 | 2.00x |" in table
    assert "| order lines loaded for the day | 1 | 1 | 1.00x |" in table
    assert "| order lines in all days | 3 | 2 | 1.50x |" in table
    assert "| web events loaded for the day | 0 | 1 | 0.00x |" in table
    assert "| rows quarantined on the day | 1 | 0 | - |" in table


def test_the_machine_check_counts_the_cores_the_run_can_use_not_those_it_starts() -> None:
    from bench.cli import PROJECT_ROOT

    # one CPU for the check's processes, as a host that gives a two-core machine one core's worth
    # does: two processes at once take twice as long as one, however many cores the machine has
    code = (
        "import json, os\n"
        "os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})\n"
        "from bench.machine import machine_check\n"
        "print(json.dumps(machine_check(processes=2, megabytes=16)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    )
    check = json.loads(done.stdout)

    assert check["processes"] == 2
    assert check["at_once_s"] > 1.6 * check["alone_s"]
    assert 0.8 <= check["cores_worth"] <= 1.2
    assert check["first_touch_gb_s"] > 0


def test_the_report_says_how_fast_the_machine_was_when_the_check_ran() -> None:
    result = measured_result("S", 700, 40, 41)
    result["targets"] = judge(result)
    before = markdown(result)  # a result written before the check existed
    check = {
        "processes": 2,
        "alone_s": 0.13,
        "at_once_s": 0.26,
        "cores_worth": 1.0,
        "first_touch_gb_s": 0.4,
    }
    result["machine_check"] = {
        "start": check,
        "end": {**check, "at_once_s": 0.13, "cores_worth": 2.0},
    }

    table = markdown(result)

    assert "How fast the machine was" not in before
    assert (
        "at the start, a fixed loop 0.13 s alone and 0.26 s 2 at once (1.0 cores' worth of 2); "
        "fresh memory written at 0.40 GB/s; at the end, a fixed loop 0.13 s alone and 0.13 s "
        "2 at once (2.0 cores' worth of 2)"
    ) in table


def test_the_report_names_the_duckdb_settings_the_run_was_measured_with() -> None:
    result = measured_result("S", 700, 40, 41)
    result["targets"] = judge(result)
    before = markdown(result)  # a result written before the settings were recorded

    result["duckdb_settings"] = {}
    defaults = markdown(result)
    result["duckdb_settings"] = {"DBT_DUCKDB_BLOCK_ALLOCATOR_MEMORY": "5GB"}
    overridden = markdown(result)

    assert "DuckDB settings" not in before
    assert "DuckDB settings from the environment: none, the defaults." in defaults
    assert (
        "DuckDB settings from the environment: `DBT_DUCKDB_BLOCK_ALLOCATOR_MEMORY=5GB`."
        in overridden
    )


def test_the_duckdb_settings_recorded_are_those_the_environment_overrides(monkeypatch) -> None:
    from bench.cli import duckdb_settings

    for name in [n for n in os.environ if n.startswith(("DUCKDB_", "DBT_DUCKDB_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DBT_DUCKDB_BLOCK_ALLOCATOR_MEMORY", "5GB")
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "2GB")
    monkeypatch.setenv("MOTHERDUCK_TOKEN", "not a setting")

    assert duckdb_settings() == {
        "DBT_DUCKDB_BLOCK_ALLOCATOR_MEMORY": "5GB",
        "DUCKDB_MEMORY_LIMIT": "2GB",
    }
