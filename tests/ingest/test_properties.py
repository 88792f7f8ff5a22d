"""Property tests: random malformed CSV and NDJSON never crash the loader and never lose a row."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb
import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipelines.ingest.loader import load_days
from pipelines.ingest.mapping import load_source_mappings
from pipelines.ingest.readers import (
    _read_csv_arrow,
    _read_csv_python,
    _read_keys_as_text,
    _read_ndjson_python,
    read_ndjson,
)
from tests.ingest.conftest import CONTACTS_HEADER

DAY = date(2025, 3, 4)
EVENT_KEYS = ["event_timestamp", "event_name", "user_pseudo_id", "session_id", "user_id", "value",
              "category_code", "sku"]  # fmt: skip
GOOD_EVENT = {
    "event_timestamp": "2025-03-04T10:00:00",
    "event_name": "page_view",
    "user_pseudo_id": "u1",
    "session_id": "s1",
}

# text made of the characters that break CSV files: separators, quotes, line ends
csv_text = st.text(alphabet='ab1-:T ,"\n\r\té;', max_size=12)
csv_field = st.one_of(
    csv_text,
    st.sampled_from(["", "C1", "2025-03-04T09:00:00", "2025-13-40", "true", "maybe", "  "]),
)
csv_line = st.one_of(
    # a line with a random number of fields, quoted properly
    st.lists(csv_field, min_size=0, max_size=11).map(lambda fields: _csv_line(fields)),
    # raw text written as is: stray quotes, partial lines
    csv_text,
)


def _json_values(floats: st.SearchStrategy[float]) -> st.SearchStrategy[object]:
    """Scalars, lists and objects, nested a little."""
    scalar = st.one_of(st.none(), st.booleans(), st.integers(), floats, st.text(max_size=8))
    return st.recursive(
        scalar,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
        ),
        max_leaves=5,
    )


# NaN and infinity make a line that is not JSON: malformed, as these tests want
json_value = _json_values(st.floats(allow_nan=True))
# what valid JSON can hold
finite_json_value = _json_values(st.floats(allow_nan=False, allow_infinity=False))
json_line = st.one_of(
    st.dictionaries(st.sampled_from(EVENT_KEYS), json_value, max_size=8).map(json.dumps),
    st.builds(
        lambda d: json.dumps({**GOOD_EVENT, **d}),
        st.dictionaries(st.sampled_from(EVENT_KEYS), json_value, max_size=3),
    ),
    json_value.map(json.dumps),
    st.text(alphabet='{}[]":,ab1 \t', max_size=20),
    st.just(""),
)


def _csv_line(fields: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue()


def _load(source: str, name: str, data: bytes) -> tuple[int, int, int, int]:
    """rows read per the report, rows in the raw tables, rows in quarantine, rows loaded+quarantined."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / source / DAY.isoformat()
        folder.mkdir(parents=True)
        (folder / name).write_bytes(data)
        with duckdb.connect() as con:
            report = load_days(con, source, [DAY], Path(tmp))
            table = "raw.crm_contacts" if source == "crm" else "raw.web_events"
            in_table = con.execute(f"select count(*) from {table}").fetchone()[0]
            in_quarantine = con.execute("select count(*) from raw.quarantine").fetchone()[0]
    return report.rows_read, in_table, in_quarantine, report.rows_loaded + report.rows_quarantined


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(csv_line, max_size=12))
def test_random_csv_never_crashes_and_never_loses_a_row(lines: list[str]) -> None:
    text = CONTACTS_HEADER + "\n" + "\n".join(lines) + "\n"
    expected_rows = sum(1 for record in csv.reader(io.StringIO(text, newline="")) if record) - 1

    read, in_table, in_quarantine, accounted = _load("crm", "contacts.csv", text.encode("utf-8"))

    assert read == expected_rows
    assert in_table + in_quarantine == read == accounted


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(json_line, max_size=12))
def test_random_ndjson_never_crashes_and_never_loses_a_row(lines: list[str]) -> None:
    text = "\n".join([json.dumps(GOOD_EVENT), *lines]) + "\n"
    expected_rows = sum(1 for line in text.split("\n") if line.strip())

    read, in_table, in_quarantine, accounted = _load("web", "events.ndjson", text.encode("utf-8"))

    assert read == expected_rows
    assert in_table + in_quarantine == read == accounted


@settings(max_examples=40, deadline=None)
@given(lines=st.lists(csv_line, max_size=12))
def test_fast_and_careful_csv_readers_read_the_same_rows(lines: list[str]) -> None:
    text = CONTACTS_HEADER + "\n" + "\n".join(lines) + "\n"
    header = CONTACTS_HEADER.split(",")
    mapping = load_source_mappings("crm")["contacts"]

    fast = _read_csv_arrow(text, header, mapping)
    careful = _read_csv_python(text, header, mapping)

    assert fast.select("_source_row", "_malformed").equals(
        careful.select("_source_row", "_malformed")
    )
    good = pl.col("_malformed").is_null()
    assert fast.filter(good).select(header).equals(careful.filter(good).select(header))


def test_unterminated_quote_keeps_the_rest_of_the_file_in_one_malformed_row() -> None:
    text = f'{CONTACTS_HEADER}\nC1,a,,A,B,true,2025-01-01,2025-03-04\nC2,"open,,A\nC3,c,,A,B,true,2025-01-01,2025-03-04\n'

    read, in_table, in_quarantine, _ = _load("crm", "contacts.csv", text.encode())

    assert (read, in_table, in_quarantine) == (2, 1, 1)


def _same_value(fast: str | None, careful: str | None) -> bool:
    """The same value: a number may be written differently (1e+16 or 10000000000000000)."""
    if fast == careful:
        return True
    if fast is None or careful is None:
        return False
    try:
        return Decimal(fast) == Decimal(careful)
    except InvalidOperation:
        return False


@settings(max_examples=60, deadline=None)
@given(
    records=st.lists(
        st.dictionaries(st.sampled_from(EVENT_KEYS), finite_json_value, max_size=8),
        max_size=12,
    )
)
# found by a clean-clone CI run: Polars cannot parse an integer below -2**127
@example(records=[{"event_timestamp": -(2**127) - 1}])
def test_fast_and_careful_json_readers_read_the_same_values(records: list[dict]) -> None:
    lines = [json.dumps({**GOOD_EVENT, **record}) for record in records]
    text = "\n".join([json.dumps(GOOD_EVENT), *lines]) + "\n"
    mapping = load_source_mappings("web")["events"]

    careful = _read_ndjson_python(Path("events.ndjson"), text, mapping)
    try:
        fast = _read_keys_as_text(text.encode("utf-8"), mapping)
    except pl.exceptions.PolarsError:
        # Polars refuses what it cannot parse (an integer beyond 128 bits): the file is then read
        # line by line, so nothing is lost
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "events.ndjson"
            path.write_text(text, encoding="utf-8")
            assert read_ndjson(path, mapping).equals(careful)
        return

    if any(_starts_like_json(value) for record in records for value in record.values()):
        # left to the inferring read: a nested value is read line by line (tested below)
        assert fast is None
        return
    assert fast is not None  # every field is a plain key, and the required ones are there
    assert fast.height == careful.height
    for name in mapping.vendor_fields:
        for row, (a, b) in enumerate(zip(fast[name], careful[name], strict=True)):
            assert _same_value(a, b), f"line {row + 1}, {name}: {a!r} against {b!r}"


def _starts_like_json(value: object) -> bool:
    """A nested value, or a text that starts like one."""
    return isinstance(value, dict | list) or (
        isinstance(value, str) and value.startswith(("{", "["))
    )


def test_a_nested_value_in_a_text_column_loads_as_json(tmp_path: Path) -> None:
    event = {**GOOD_EVENT, "page_location": {"path": '/a"b', "q": [1, 2]}}
    path = tmp_path / "events.ndjson"
    path.write_text(json.dumps(event) + "\n")

    frame = read_ndjson(path, load_source_mappings("web")["events"])

    assert json.loads(frame["page_location"][0]) == event["page_location"]


def test_a_key_first_seen_on_the_last_line_is_read(tmp_path: Path) -> None:
    events = [json.dumps(GOOD_EVENT)] * 2000 + [json.dumps({**GOOD_EVENT, "user_id": "C7"})]
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(events) + "\n")

    frame = read_ndjson(path, load_source_mappings("web")["events"])

    assert frame.height == 2001
    assert frame["user_id"].to_list() == [None] * 2000 + ["C7"]
