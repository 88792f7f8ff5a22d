"""A warehouse with the hand-written café marts, and a helper that publishes into a temp folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from pipelines.publish.config import PublishingConfig, load_publishing_config
from pipelines.publish.publication import PublishOutcome, publish_segments
from tests.publish.fixture_warehouse import write_marts


@dataclass(frozen=True)
class Site:
    """The data folder of one test: warehouse, exports and reports."""

    warehouse: Path
    exports: Path
    reports: Path

    def rows(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()


@pytest.fixture
def site(tmp_path: Path) -> Site:
    data = tmp_path / "data"
    data.mkdir()
    site = Site(
        warehouse=data / "warehouse.duckdb", exports=data / "exports", reports=data / "reports"
    )
    write_marts(site.warehouse)
    return site


@pytest.fixture
def publish(site: Site) -> Callable[..., PublishOutcome]:
    def run(run_id: str = "test-run", config: PublishingConfig | None = None) -> PublishOutcome:
        with duckdb.connect(str(site.warehouse)) as con:
            return publish_segments(
                con,
                config or load_publishing_config(),
                exports_dir=site.exports,
                reports_dir=site.reports,
                run_id=run_id,
            )

    return run
