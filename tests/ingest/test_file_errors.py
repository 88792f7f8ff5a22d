"""A file that cannot be loaded fails the load with a message naming the file, column and problem."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from pipelines.ingest.loader import IngestFileError, load_days
from pipelines.ingest.mapping import MappingError, load_source_mappings
from tests.ingest.conftest import CONTACTS_HEADER, Landing, count, load

DAY = "2025-03-04"
CONTACT = "C1,ana@example.com,600111222,Ana,Ruiz,true,2025-01-02T10:00:00,2025-03-04T09:00:00"


def test_missing_required_column_names_file_and_column(con, landing: Landing) -> None:
    header = CONTACTS_HEADER.replace(",updated_at", "")
    landing.write("crm", DAY, "contacts_shop2.csv", f"{header}\n{CONTACT.rsplit(',', 1)[0]}\n")

    with pytest.raises(IngestFileError) as error:
        load(con, landing, "crm", DAY)

    message = str(error.value)
    assert "contacts_shop2.csv" in message
    assert "'updated_at'" in message
    assert "expected column 'updated_at'" in message
    assert "found " in message and "created_at" in message


def test_json_file_without_a_required_key_names_file_and_key(con, landing: Landing) -> None:
    event = '{"ts": "2025-03-04T10:00:00", "event_name": "page_view", "user_pseudo_id": "u1", '
    landing.write("web", DAY, "events.ndjson", event + '"session_id": "s1"}\n')

    with pytest.raises(IngestFileError) as error:
        load(con, landing, "web", DAY)

    message = str(error.value)
    assert "events.ndjson" in message
    assert "expected column 'event_timestamp'" in message
    assert "found event_name, session_id, user_pseudo_id" in message


def test_json_key_empty_on_every_line_quarantines_the_rows(con, landing: Landing) -> None:
    event = '{"event_timestamp": null, "event_name": "page_view", "user_pseudo_id": "u1", '
    landing.write("web", DAY, "events.ndjson", (event + '"session_id": "s1"}\n') * 2)

    report = load(con, landing, "web", DAY)

    assert report.entities["events"].quarantined_by_reason == {"missing_required": 2}
    assert count(con, "raw.web_events") == 0


def test_wrong_encoding_names_file_line_and_bytes(con, landing: Landing) -> None:
    text = f"{CONTACTS_HEADER}\n{CONTACT.replace('Ana', 'Ánä')}\n".encode("latin-1")
    landing.write("crm", DAY, "contacts.csv", text)

    with pytest.raises(IngestFileError) as error:
        load(con, landing, "crm", DAY)

    message = str(error.value)
    assert "contacts.csv" in message and "line 2" in message
    assert "utf-8" in message and "\\xc1" in message


def test_corrupt_gzip_names_the_file(con, landing: Landing) -> None:
    path = landing.incoming / "pos" / DAY / "order_lines.csv.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not gzip")

    with pytest.raises(IngestFileError, match=r"order_lines\.csv\.gz: cannot be read"):
        load(con, landing, "pos", DAY)


@pytest.mark.parametrize("chunk_bytes", [1, 64 * 1024 * 1024], ids=["day_by_day", "one_chunk"])
def test_the_first_unreadable_file_of_a_range_is_named_and_nothing_written(
    con, landing: Landing, chunk_bytes: int
) -> None:
    # files are read several at a time, and the next chunk while this one loads: the error is
    # still the first bad file's, and the good days before it are not kept
    days = [date(2025, 3, 3) + timedelta(days=n) for n in range(4)]
    for day in days[:2]:
        landing.contacts(day.isoformat(), CONTACT)
    for day in days[2:]:
        path = landing.incoming / "crm" / day.isoformat() / "contacts.csv.gz"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"this is not gzip")

    with pytest.raises(IngestFileError, match=r"crm/2025-03-05/contacts\.csv\.gz: cannot be read"):
        load_days(con, "crm", days, landing.incoming, chunk_bytes=chunk_bytes)

    assert count(con, "raw.crm_contacts") == 0
    assert count(con, "raw.quarantine") == 0


def test_corrupt_parquet_names_the_file(con, landing: Landing) -> None:
    landing.write("pos", DAY, "order_lines.parquet", b"PAR1 broken")

    with pytest.raises(IngestFileError, match=r"order_lines\.parquet: cannot be read as Parquet"):
        load(con, landing, "pos", DAY)


def test_unknown_extension_names_file_and_expected_extensions(con, landing: Landing) -> None:
    landing.write("crm", DAY, "contacts.xlsx", b"PK\x03\x04")

    with pytest.raises(IngestFileError) as error:
        load(con, landing, "crm", DAY)

    assert "contacts.xlsx" in str(error.value) and ".csv.gz" in str(error.value)


def test_a_failing_file_writes_nothing_for_its_source(con, landing: Landing) -> None:
    landing.contacts(DAY, CONTACT)
    load(con, landing, "crm", DAY)
    landing.write("crm", DAY, "tickets.csv", "ticket_id,created_at\nT1,2025-03-04\n")
    landing.write("crm", DAY, "email_events.csv", "email,occurred_at\na@x.com,2025-03-04\n")

    with pytest.raises(IngestFileError, match=r"email_events\.csv.*'event_type'"):
        load(con, landing, "crm", DAY)

    assert count(con, "raw.crm_contacts") == 1
    assert count(con, "raw.crm_tickets") == 0


def write_sources(tmp_path: Path, mapping_yaml: str, selection: str = "pos: mine.yaml") -> Path:
    (tmp_path / "mine.yaml").write_text(mapping_yaml)
    config = tmp_path / "sources.yaml"
    config.write_text(f"mappings:\n  {selection}\n")
    return config


@pytest.mark.parametrize(
    ("mapping_yaml", "message"),
    [
        (
            "entities:\n  order_lines:\n    columns:\n      order_id: {from: id, colour: red}\n",
            r"column 'order_id': unknown key\(s\) colour",
        ),
        (
            "entities:\n  order_lines:\n    columns:\n      basket: id\n",
            "'basket' is not a canonical column of pos/order_lines",
        ),
        (
            "entities:\n  order_lines:\n    columns:\n      order_id: id\n",
            "required canonical column\\(s\\) line_number, ordered_at",
        ),
        (
            "entities:\n  order_lines:\n    match_canonical_names: true\n"
            "    columns:\n      ordered_at: {from: t, unit: fortnights}\n",
            "'unit' is for timestamps and one of seconds",
        ),
        (
            "entities:\n  order_lines:\n    match_canonical_names: true\n"
            "    columns:\n      sku: {from: s, extract: 'no group'}\n",
            "'extract' needs exactly one \\(group\\)",
        ),
        (
            "entities:\n  order_lines:\n    match_canonical_names: true\n"
            "    columns:\n      channel: {from: c, map: {yes: online}}\n",
            "write the vendor's word in quotes",
        ),
    ],
)
def test_invalid_mapping_is_rejected_with_a_clear_message(
    tmp_path: Path, mapping_yaml: str, message: str
) -> None:
    config = write_sources(tmp_path, mapping_yaml)

    with pytest.raises(MappingError, match=message) as error:
        load_source_mappings("pos", config)

    assert "mine.yaml" in str(error.value)


def test_preset_of_another_source_is_rejected(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text("mappings:\n  crm: shopify_orders\n")

    with pytest.raises(MappingError, match="for source 'pos' but is selected for 'crm'"):
        load_source_mappings("crm", config)


def test_unknown_preset_lists_the_presets(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text("mappings:\n  web: ga5\n")

    with pytest.raises(MappingError, match="ga4_bigquery_events"):
        load_source_mappings("web", config)


def test_missing_sources_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"nowhere\.yaml does not exist"):
        load_source_mappings("crm", tmp_path / "nowhere.yaml")
