"""Files for people and tools outside the warehouse: Parquet snapshots and email-tool CSVs.

Everything for one as-of date is first written to a hidden staging folder next to the exports
(`data/exports/.staging-<as_of>-<run>`), while the warehouse transaction is still open; only after
the commit is the folder renamed to `data/exports/<as_of>/` and `data/exports/latest.json`
replaced to point at it. A failed run therefore leaves the last good exports and pointer alone.

Every table is one Parquet file but the membership history, which only grows (docs/performance.md
measures a shop that has published daily for two years): it is a folder of one file per month in
which stays closed and one of the stays still open. A closed stay never changes again (only the
last as-of date can be published again), so the months before the as-of date's month are taken
from the previous export folder as hard links, when that folder is the export of the publication
the warehouse held before this one; the current month and the open stays are written from the
warehouse. Each dated folder still holds the whole history as of its date, but the closed months
are written once and stored once, however many dated folders are kept.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from pipelines.publish.features import features_snapshot, snapshot_features_sql
from pipelines.publish.tables import PUBLISHED_TABLES, Publication

LATEST_POINTER = "latest.json"
EMAIL_FOLDER = "email"
HISTORY = "segment_membership_history"
OPEN_STAYS = "open.parquet"


@dataclass(frozen=True)
class StagedExports:
    """An export folder written but not yet in place."""

    staging: Path
    target: Path
    files: dict[str, int]  # relative path -> rows


def segment_file_name(segment: str) -> str:
    """A file-system-safe name for a segment: "Can't lose them" -> "cant-lose-them"."""
    slug = re.sub(r"[^a-z0-9]+", "-", segment.lower().replace("'", "")).strip("-")
    return slug or "segment"


def _sql_string(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _write_snapshots(
    con: duckdb.DuckDBPyConnection, folder: Path, as_of: date, previous: Path | None
) -> dict[str, int]:
    files = {}
    for table in PUBLISHED_TABLES:
        if table == HISTORY:
            files |= _write_history(con, folder, as_of, previous)
            continue
        target = snapshot_path(folder, table)
        (files[target.name],) = con.execute(
            f"copy segments.{table} to {_sql_string(target)} (format parquet)"
        ).fetchall()[0]
    return files


def snapshot_path(folder: Path, table: str) -> Path:
    """Where an export folder holds `table`: a Parquet file, or the history's folder of them."""
    return folder / HISTORY if table == HISTORY else folder / f"{table}.parquet"


def _closed_stays_file(month: date) -> str:
    """The history file of the stays that closed in `month`: `closed-2026-11.parquet`."""
    return f"closed-{month:%Y-%m}.parquet"


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links: the same file, only not shared
        shutil.copyfile(source, target)


def _write_history(
    con: duckdb.DuckDBPyConnection, folder: Path, as_of: date, previous: Path | None
) -> dict[str, int]:
    """The membership history as of `as_of`: one file per month stays closed in, one of the open
    stays. `previous` is the export folder of the publication before this one, or None."""
    history = f"segments.{HISTORY}"
    target = folder / HISTORY
    target.mkdir()
    this_month = as_of.replace(day=1)
    months = con.execute(
        f"select date_trunc('month', valid_to)::date as month, count(*) from {history} "
        f"where valid_to is not null group by month order by month"
    ).fetchall()
    files = {}
    for month, rows in months:
        name = _closed_stays_file(month)
        earlier = previous / HISTORY / name if previous is not None else None
        if month < this_month and earlier is not None and earlier.is_file():
            # closed before this month and exported by the previous publication: final
            _link_or_copy(earlier, target / name)
        else:
            con.execute(
                f"""
                copy (
                    select * from {history}
                    where valid_to >= $month and valid_to < $month + interval 1 month
                    order by customer_key, segment_type, valid_from
                ) to {_sql_string(target / name)} (format parquet)
                """,
                {"month": month},
            )
        files[f"{HISTORY}/{name}"] = rows
    (open_rows,) = con.execute(
        f"copy (select * from {history} where valid_to is null) "
        f"to {_sql_string(target / OPEN_STAYS)} (format parquet)"
    ).fetchall()[0]
    files[f"{HISTORY}/{OPEN_STAYS}"] = open_rows
    return files


def _write_email_lists(
    con: duckdb.DuckDBPyConnection, folder: Path, segment_types: tuple[str, ...], as_of: date
) -> dict[str, int]:
    """One CSV per segment: consenting customers with an address, and a few figures to personalise."""
    # the consent filter and the sort by email are applied once, here; every CSV is cut from this
    # table in its order (DuckDB keeps insertion order without an ORDER BY), which at 1M customers
    # took 3.5 s where sorting each of the 50 lists again and counting its rows took 5.7 s
    con.execute(
        f"""
        create or replace temp table publish_email_audience as
        with latest_features as ({snapshot_features_sql()})
        select
            customers.email,
            customers.first_name,
            published.*,
            latest_features.recency_days as days_since_last_order,
            latest_features.frequency_365d as orders_last_365_days,
            round(latest_features.monetary, 2) as lifetime_spend
        from segments.customer_segments as published
        inner join marts.customers as customers
            on customers.customer_key = published.customer_key
        left join latest_features on latest_features.customer_key = published.customer_key
        where customers.marketing_consent is true
            and nullif(trim(customers.email), '') is not null
        order by customers.email
        """,
        {"features_as_of": features_snapshot(con, as_of)},
    )
    files = {}
    for segment_type in segment_types:
        segments = [
            r[0]
            for r in con.execute(
                "select distinct segment from segments.segment_kpis "
                "where as_of_date = $as_of and segment_type = $segment_type order by segment",
                {"as_of": as_of, "segment_type": segment_type},
            ).fetchall()
        ]
        type_folder = folder / EMAIL_FOLDER / segment_type
        type_folder.mkdir(parents=True)
        used_names: set[str] = set()
        for segment in segments:
            name = base = segment_file_name(segment)
            while name in used_names:  # two segment names that slug alike keep apart
                name = f"{base}-{len(used_names)}"
            used_names.add(name)
            target = type_folder / f"{name}.csv"
            query = f"""
                select email, first_name, '{segment_type}' as segment_type,
                       {segment_type}::varchar as segment, as_of_date, days_since_last_order,
                       orders_last_365_days, lifetime_spend, round(clv_12m, 2) as predicted_value_12m,
                       round(churn_probability, 3) as churn_probability
                from publish_email_audience
                where {segment_type}::varchar = $segment
            """
            # COPY answers with the number of rows it wrote
            (written,) = con.execute(
                f"copy ({query}) to {_sql_string(target)} (format csv, header true)",
                {"segment": segment},
            ).fetchall()[0]
            files[str(target.relative_to(folder))] = written
    con.execute("drop table publish_email_audience")
    return files


def previous_export(exports_dir: Path, previous_run_id: str | None) -> Path | None:
    """The folder `latest.json` points at, if the run that wrote it published the `segments.*`
    tables this publication replaces (`previous_run_id`); None otherwise (a warehouse rebuilt or
    restored, a publication whose files never moved into place)."""
    pointer = latest_export(exports_dir)
    if pointer is None or previous_run_id is None or pointer.get("run_id") != previous_run_id:
        return None
    folder = exports_dir / pointer["path"]
    return folder if folder.is_dir() else None


def stage_exports(
    con: duckdb.DuckDBPyConnection,
    exports_dir: Path,
    publication: Publication,
    email_segment_types: tuple[str, ...],
    previous: Path | None = None,
) -> StagedExports:
    """Write this publication's Parquet snapshots and email CSVs to a staging folder; `previous`
    is the export folder of the publication before this one (`previous_export`), or None."""
    exports_dir.mkdir(parents=True, exist_ok=True)
    as_of = publication.as_of_date.isoformat()
    staging = exports_dir / f".staging-{as_of}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        files = _write_snapshots(con, staging, publication.as_of_date, previous)
        email_types = tuple(t for t in email_segment_types if t in publication.segment_types)
        files |= _write_email_lists(con, staging, email_types, publication.as_of_date)
        manifest = {
            "as_of_date": as_of,
            "published_at": publication.published_at.isoformat(),
            "run_id": publication.run_id,
            "files": files,
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return StagedExports(staging=staging, target=exports_dir / as_of, files=files)


def discard_exports(staged: StagedExports) -> None:
    shutil.rmtree(staged.staging, ignore_errors=True)


def _replace_file(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader sees the old or the new content, never half."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    temporary.write_text(text)
    os.replace(temporary, path)


def move_exports_into_place(staged: StagedExports, publication: Publication) -> Path:
    """Rename the staged folder to `<as_of>/` (replacing a re-published one) and repoint latest."""
    retired = None
    if staged.target.exists():
        # directories cannot be swapped in one rename: park the old one, then delete it
        retired = staged.target.with_name(f".retired-{staged.target.name}-{uuid.uuid4().hex[:8]}")
        os.rename(staged.target, retired)
    os.rename(staged.staging, staged.target)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
    pointer = {
        "as_of_date": publication.as_of_date.isoformat(),
        "path": staged.target.name,
        "published_at": publication.published_at.isoformat(),
        "run_id": publication.run_id,
    }
    _replace_file(staged.target.parent / LATEST_POINTER, json.dumps(pointer, indent=2) + "\n")
    return staged.target


def prune_publications(exports_dir: Path, reports_dir: Path, keep: int) -> list[Path]:
    """Delete dated export folders and reports beyond the newest `keep`; returns what went.

    Only names that are an as-of date (`2026-11-29/`, `2026-11-29.html`) are considered, so
    `latest.json`, `latest.html` and anything a person put there stay.
    """

    def dated(paths: list[Path], suffix: str) -> list[Path]:
        found = []
        for path in paths:
            try:
                date.fromisoformat(path.name.removesuffix(suffix))
            except ValueError:
                continue
            found.append(path)
        return sorted(found, key=lambda p: p.name, reverse=True)

    folders = dated([p for p in exports_dir.glob("*") if p.is_dir()], "")
    reports = dated(list(reports_dir.glob("*.html")), ".html")
    removed = []
    for path in folders[keep:]:
        shutil.rmtree(path)
        removed.append(path)
    for path in reports[keep:]:
        path.unlink()
        removed.append(path)
    return removed


def latest_export(exports_dir: Path) -> dict[str, str] | None:
    """The pointer to the last good export folder, or None before the first publication."""
    pointer = exports_dir / LATEST_POINTER
    return json.loads(pointer.read_text()) if pointer.exists() else None
