"""Helpers for ingest tests: a landing folder in a temp dir, written by hand, and a warehouse."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest.loader import LoadReport, load_days

FIXTURES = Path(__file__).parent / "fixtures"

CONTACTS_HEADER = (
    "contact_id,email,phone,first_name,last_name,marketing_consent,created_at,updated_at"
)
ORDER_LINES_HEADER = (
    "order_id,line_number,ordered_at,channel,store_id,customer_id,loyalty_id,email,phone,"
    "sku,category_code,quantity,unit_price,discount_amount"
)


class Landing:
    """data/ of a test: `incoming/<source>/<day>/<file>` written from text."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.incoming = data_dir / "incoming"
        self.incoming.mkdir(parents=True, exist_ok=True)

    def write(self, source: str, day: str, name: str, text: str | bytes) -> Path:
        folder = self.incoming / source / day
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        data = text.encode("utf-8") if isinstance(text, str) else text
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        return path

    def contacts(self, day: str, *rows: str, name: str = "contacts.csv") -> Path:
        return self.write("crm", day, name, "\n".join([CONTACTS_HEADER, *rows]) + "\n")

    def order_lines(self, day: str, *rows: str, name: str = "order_lines.csv") -> Path:
        return self.write("pos", day, name, "\n".join([ORDER_LINES_HEADER, *rows]) + "\n")


@pytest.fixture
def landing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Landing:
    monkeypatch.setenv("SEGMENTS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "data" / "warehouse.duckdb"))
    return Landing(tmp_path / "data")


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        yield connection


def load(con: duckdb.DuckDBPyConnection, landing: Landing, source: str, *days: str) -> LoadReport:
    report = load_days(con, source, [date.fromisoformat(d) for d in days], landing.incoming)
    assert report.rows_read == report.rows_loaded + report.rows_quarantined
    return report


def quarantine(con: duckdb.DuckDBPyConnection) -> list[dict]:
    frame = con.sql(
        "select source, entity, source_file, source_row, reason, detail, original_values "
        "from raw.quarantine order by source_file, source_row"
    ).pl()
    return frame.to_dicts()


def count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return con.execute(f"select count(*) from {table}").fetchone()[0]
