"""The membership history's export: every dated folder holds the whole history as of its date,
and the months whose stays had closed are shared with the folder before, not written again."""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path

import duckdb

from pipelines.publish.exports import HISTORY as TABLE
from pipelines.publish.exports import snapshot_path
from tests.publish.fixture_warehouse import FIRST_AS_OF, HISTORY, SECOND_AS_OF, write_candidates

JULY_AS_OF = date(2025, 7, 6)


def write_july_candidates(warehouse: Path) -> None:
    """The second date's segments a month later, but c03 is back in Loyal (from At risk)."""
    write_candidates(warehouse, SECOND_AS_OF)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update candidate.customer_segments set as_of_date = $day", {"day": JULY_AS_OF})
        con.execute(
            "update candidate.customer_segments set rfm_segment = 'Loyal' where customer_key = 'c03'"
        )


def exported_history(folder: Path) -> list[tuple]:
    """The history a dated export folder holds, as `HISTORY` reads it from the warehouse."""
    files = snapshot_path(folder, TABLE) / "*.parquet"
    with duckdb.connect() as con:
        return con.execute(HISTORY.replace(f"segments.{TABLE}", f"'{files}'")).fetchall()


def history_files(folder: Path) -> list[str]:
    return sorted(p.name for p in snapshot_path(folder, TABLE).iterdir())


def publish_june(site, publish) -> Path:
    """The two June dates published, one run each; the second date's export folder."""
    write_candidates(site.warehouse, FIRST_AS_OF)
    publish(run_id="first")
    write_candidates(site.warehouse, SECOND_AS_OF)
    publish(run_id="second")
    return site.exports / SECOND_AS_OF.isoformat()


def test_each_folder_holds_the_history_as_of_its_date_and_closed_months_are_shared(site, publish):
    june = publish_june(site, publish)
    history_in_june = site.rows(HISTORY)
    assert exported_history(june) == history_in_june
    assert history_files(june) == ["closed-2025-06.parquet", "open.parquet"]

    write_july_candidates(site.warehouse)
    outcome = publish(run_id="july")

    july = outcome.export_dir
    assert exported_history(july) == site.rows(HISTORY)
    assert ("c03", "rfm_segment", "At risk", SECOND_AS_OF, JULY_AS_OF) in exported_history(july)
    assert history_files(july) == [
        "closed-2025-06.parquet",
        "closed-2025-07.parquet",
        "open.parquet",
    ]
    # June's closed stays are final: the July folder holds the same file, not a second copy
    assert os.path.samefile(
        june / "segment_membership_history" / "closed-2025-06.parquet",
        july / "segment_membership_history" / "closed-2025-06.parquet",
    )
    # and the June folder still reads as the history did in June
    assert exported_history(june) == history_in_june
    manifest = json.loads((july / "manifest.json").read_text())
    exported_rows = {
        name: rows
        for name, rows in manifest["files"].items()
        if name.startswith("segment_membership_history/")
    }
    assert sum(exported_rows.values()) == len(site.rows(HISTORY))
    assert exported_rows["segment_membership_history/closed-2025-07.parquet"] == len(
        site.rows(HISTORY.replace("order by all", "where valid_to = '2025-07-06'"))
    )

    # July published again with c04 moved too: the month still open is written again
    with duckdb.connect(str(site.warehouse)) as con:
        con.execute(
            "update candidate.customer_segments set rfm_segment = 'At risk' "
            "where customer_key = 'c04'"
        )
    outcome = publish(run_id="july-corrected")

    assert exported_history(outcome.export_dir) == site.rows(HISTORY)
    assert ("c04", "rfm_segment", "Loyal", FIRST_AS_OF, JULY_AS_OF) in site.rows(HISTORY)


def test_an_export_not_written_by_the_previous_publication_is_not_reused(site, publish):
    june = publish_june(site, publish)
    # latest.json now points at a folder another warehouse wrote: its June file holds no stays
    part = june / "segment_membership_history" / "closed-2025-06.parquet"
    with duckdb.connect() as con:
        con.execute(f"copy (from '{part}' limit 0) to '{part}.new' (format parquet)")
    shutil.move(f"{part}.new", part)
    pointer = site.exports / "latest.json"
    pointer.write_text(pointer.read_text().replace('"second"', '"another warehouse\'s run"'))

    write_july_candidates(site.warehouse)
    outcome = publish(run_id="july")

    assert exported_history(outcome.export_dir) == site.rows(HISTORY)
    assert not os.path.samefile(
        part, outcome.export_dir / "segment_membership_history" / "closed-2025-06.parquet"
    )
