"""One publication, start to finish: tables, exports and report, all or nothing.

Order matters for "the last good stays":
1. every `segments.*` table is written inside one DuckDB transaction;
2. still inside it, the exports and the report are written to staging files from those tables;
3. the transaction commits; only then are the staged folder and files renamed into place and the
   `latest` pointers replaced.
An error in 1 or 2 rolls the tables back and deletes the staging files, so the previous tables,
exports and report stay, and `segments.publication` still names their as-of date.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from pipelines.publish.config import PublishingConfig
from pipelines.publish.exports import (
    StagedExports,
    discard_exports,
    move_exports_into_place,
    previous_export,
    prune_publications,
    stage_exports,
)
from pipelines.publish.report import Report, build_report
from pipelines.publish.tables import Publication, publish_tables, published_run_id

LATEST_REPORT = "latest.html"


@dataclass(frozen=True)
class PublishOutcome:
    publication: Publication
    export_dir: Path
    export_files: dict[str, int]  # relative path -> rows
    report_path: Path
    latest_report_path: Path
    projection_png: bytes | None


@dataclass
class _Staging:
    """Files written during the transaction, moved into place only after the commit."""

    exports: StagedExports | None = None
    report: Report | None = None
    report_file: Path | None = None
    latest_file: Path | None = None

    def discard(self) -> None:
        if self.exports is not None:
            discard_exports(self.exports)
        for staged in (self.report_file, self.latest_file):
            if staged is not None:
                staged.unlink(missing_ok=True)


def _stage_report(reports_dir: Path, name: str, report: Report) -> Path:
    reports_dir.mkdir(parents=True, exist_ok=True)
    staged = reports_dir / f".{name}.{uuid.uuid4().hex[:8]}"
    staged.write_text(report.html, encoding="utf-8")
    return staged


def publish_segments(
    con: duckdb.DuckDBPyConnection,
    config: PublishingConfig,
    *,
    exports_dir: Path,
    reports_dir: Path,
    run_id: str,
    published_at: datetime | None = None,
) -> PublishOutcome:
    """Publish the checked candidates; raises (and changes nothing) when they cannot be."""
    staging = _Staging()
    # read before the transaction replaces segments.publication: the history files of closed
    # months are taken from this folder rather than written again
    previous = previous_export(exports_dir, published_run_id(con))

    def stage_files(con: duckdb.DuckDBPyConnection, publication: Publication) -> None:
        staging.exports = stage_exports(
            con, exports_dir, publication, config.email_segment_types, previous
        )
        staging.report = build_report(con, publication, config.report)
        name = f"{publication.as_of_date.isoformat()}.html"
        staging.report_file = _stage_report(reports_dir, name, staging.report)
        staging.latest_file = _stage_report(reports_dir, LATEST_REPORT, staging.report)

    try:
        publication = publish_tables(
            con, config, run_id=run_id, published_at=published_at, before_commit=stage_files
        )
    except BaseException:
        staging.discard()
        raise
    assert staging.exports and staging.report and staging.report_file and staging.latest_file

    export_dir = move_exports_into_place(staging.exports, publication)
    report_path = reports_dir / f"{publication.as_of_date.isoformat()}.html"
    os.replace(staging.report_file, report_path)
    latest_report = reports_dir / LATEST_REPORT
    os.replace(staging.latest_file, latest_report)
    prune_publications(export_dir.parent, reports_dir, config.keep_publications)
    return PublishOutcome(
        publication=publication,
        export_dir=export_dir,
        export_files=staging.exports.files,
        report_path=report_path,
        latest_report_path=latest_report,
        projection_png=staging.report.projection_png,
    )


def remove_stale_staging(exports_dir: Path) -> list[Path]:
    """Delete staging folders a crashed process left behind (never the published ones)."""
    leftovers = [p for p in exports_dir.glob(".staging-*") if p.is_dir()]
    leftovers += [p for p in exports_dir.glob(".retired-*") if p.is_dir()]
    for folder in leftovers:
        shutil.rmtree(folder, ignore_errors=True)
    return leftovers
