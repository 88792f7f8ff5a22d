"""Reading one landed file into text columns, one row per data row, without losing any row.

Every reader returns a Polars frame whose columns are the vendor's fields as text (for JSON, the
fields or paths the mapping asks for), plus `_source_row` (1-based data row), `_malformed`
(why a row could not be split into fields, else null) and `_original_values` (the row as JSON).
Problems with the file as a whole raise `IngestFileError` naming the file and what was wrong.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.ingest.mapping import EntityMapping

CSV_SUFFIXES = (".csv", ".csv.gz")
JSON_SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
PARQUET_SUFFIXES = (".parquet",)
SUPPORTED_SUFFIXES = CSV_SUFFIXES + JSON_SUFFIXES + PARQUET_SUFFIXES
META_COLUMNS = ("_source_row", "_malformed", "_original_values")


class IngestFileError(ValueError):
    """A file that cannot be loaded at all: the message names the file and what was wrong."""


def file_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(JSON_SUFFIXES):
        return "ndjson"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise IngestFileError(
        f"{path}: unknown file extension; expected one of {', '.join(SUPPORTED_SUFFIXES)}"
    )


def _open_bytes(path: Path) -> bytes:
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise IngestFileError(f"{path}: cannot be read ({exc})") from exc


def _decode(path: Path, data: bytes, encoding: str) -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise IngestFileError(
            f"{path}: line {line} is not valid {encoding} (found byte(s) "
            f"{data[exc.start : exc.end]!r}); expected a {encoding} file, or set "
            "csv.encoding in the mapping"
        ) from exc
    return text.removeprefix("\ufeff")


def _missing_required(path: Path, present: Iterable[str], mapping: EntityMapping) -> None:
    """A required canonical column none of whose vendor columns are in the file fails the file."""
    present = set(present)
    missing = _first_missing_required(present, mapping)
    if missing is None:
        return
    canonical, expected = missing
    found = ", ".join(sorted(present)[:30]) or "no columns"
    raise IngestFileError(
        f"{path}: required column '{canonical}' is missing: expected column {expected} "
        f"(mapping '{mapping.mapping_name}'), found {found}"
    )


def _first_missing_required(present: set[str], mapping: EntityMapping) -> tuple[str, str] | None:
    """(canonical column, the vendor columns expected) of the first required column missing."""
    for rule in mapping.rules:
        if not mapping.entity.column(rule.canonical).required:
            continue
        if rule.sources and not any(s in present for s in rule.sources):
            return rule.canonical, " or ".join(f"'{s}'" for s in rule.sources)
        if rule.concat and not all(s in present for s in rule.concat):
            return rule.canonical, " and ".join(f"'{s}'" for s in rule.concat)
    return None


def _frame(columns: dict[str, list[Any]], rows: int) -> pl.DataFrame:
    data = {name: pl.Series(name, values, dtype=pl.String) for name, values in columns.items()}
    return pl.DataFrame(data) if data else pl.DataFrame({"_rows": [None] * rows}).drop("_rows")


def read_csv(path: Path, mapping: EntityMapping) -> pl.DataFrame:
    """A CSV file (optionally gzipped): text columns, malformed lines kept as malformed rows."""
    text = _decode(path, _open_bytes(path), mapping.encoding)
    if not text.strip():
        # an empty export (nothing happened that day) has no rows rather than no header
        return _frame({}, 0).with_columns(
            pl.Series("_source_row", [], pl.Int64),
            pl.Series("_malformed", [], pl.String),
            pl.Series("_original_values", [], pl.String),
        )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter, strict=False)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise IngestFileError(f"{path}: the header line cannot be read as CSV ({exc})") from exc
    if header is None:
        header = []
    header = [name.strip() or f"column_{i + 1}" for i, name in enumerate(header)]
    duplicated = sorted({n for n in header if header.count(n) > 1})
    if duplicated:
        raise IngestFileError(
            f"{path}: column(s) {', '.join(duplicated)} appear more than once in the header; "
            "expected unique column names"
        )
    _missing_required(path, header, mapping)
    # `_original_values` stays null for well-formed rows: the loader writes it for the few rows
    # it quarantines (see `original_values_of`), rather than for every row read
    import pyarrow as pa  # here, not at the top: the code location loads without pyarrow

    try:
        return _read_csv_arrow(text, header, mapping)
    except (pa.ArrowInvalid, csv.Error):
        return _read_csv_python(text, header, mapping)


def original_values_of(rows: pl.DataFrame) -> list[str]:
    """The vendor's fields of CSV rows as JSON; a null field is a column the row's file lacks."""
    vendor = [
        c for c in rows.columns if c not in (*META_COLUMNS, "_partition_date", "_source_file")
    ]
    return [
        json.dumps({k: v for k, v in record.items() if v is not None}, ensure_ascii=False)
        for record in rows.select(vendor).iter_rows(named=True)
    ]


def _malformed_row(fields: list[str], header: list[str]) -> tuple[str, str]:
    detail = f"expected {len(header)} fields ({', '.join(header[:8])}...), found {len(fields)}"
    original = dict(zip(header, fields, strict=False))
    if len(fields) > len(header):
        original["_extra_fields"] = fields[len(header) :]
    return detail, json.dumps(original, ensure_ascii=False)


def _read_csv_arrow(text: str, header: list[str], mapping: EntityMapping) -> pl.DataFrame:
    """The fast path: Arrow's CSV parser, with lines of the wrong width handed back to us."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    malformed: list[tuple[int, str]] = []

    def keep_malformed(row: pa_csv.InvalidRow) -> str:
        if row.number is None:
            raise pa.ArrowInvalid("row number unknown")
        malformed.append((row.number - 1, row.text))
        return "skip"

    table = pa_csv.read_csv(
        io.BytesIO(text.encode("utf-8")),
        read_options=pa_csv.ReadOptions(use_threads=False, column_names=header, skip_rows=1),
        parse_options=pa_csv.ParseOptions(
            delimiter=mapping.delimiter,
            newlines_in_values=True,
            invalid_row_handler=keep_malformed,
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    good = pl.from_arrow(table) if header else pl.DataFrame()
    assert isinstance(good, pl.DataFrame)
    if not malformed:
        return good.with_columns(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("_source_row"),
            pl.lit(None, pl.String).alias("_malformed"),
            pl.lit(None, pl.String).alias("_original_values"),
        )
    bad_rows = {number for number, _ in malformed}
    total = good.height + len(malformed)
    good_numbers = [n for n in range(1, total + 1) if n not in bad_rows]
    good = good.with_columns(
        pl.Series("_source_row", good_numbers, dtype=pl.Int64),
        pl.lit(None, pl.String).alias("_malformed"),
        pl.lit(None, pl.String).alias("_original_values"),
    )
    bad_details = []
    for number, line in malformed:
        fields = next(csv.reader([line], delimiter=mapping.delimiter, strict=False), [])
        detail, original = _malformed_row(fields, header)
        bad_details.append((number, detail, original))
    bad = pl.DataFrame(
        {
            "_source_row": [n for n, _, _ in bad_details],
            "_malformed": [d for _, d, _ in bad_details],
            "_original_values": [o for _, _, o in bad_details],
        },
        schema={"_source_row": pl.Int64, "_malformed": pl.String, "_original_values": pl.String},
    )
    return pl.concat([good, bad], how="diagonal").sort("_source_row")


def _read_csv_python(text: str, header: list[str], mapping: EntityMapping) -> pl.DataFrame:
    """The careful path for files Arrow will not parse (e.g. an unterminated quote)."""
    columns: dict[str, list[str | None]] = {name: [] for name in header}
    rows: list[int] = []
    malformed: list[str | None] = []
    originals: list[str | None] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter, strict=False)
    next(reader, None)
    number = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            fields = [f"<unreadable: {exc}>"]
        if not fields:
            continue
        number += 1
        rows.append(number)
        if len(fields) == len(header):
            for name, value in zip(header, fields, strict=True):
                columns[name].append(value)
            malformed.append(None)
            originals.append(None)
        else:
            for name in header:
                columns[name].append(None)
            detail, original = _malformed_row(fields, header)
            malformed.append(detail)
            originals.append(original)
    frame = _frame(columns, len(rows))
    return frame.with_columns(
        pl.Series("_source_row", rows, dtype=pl.Int64),
        pl.Series("_malformed", malformed, dtype=pl.String),
        pl.Series("_original_values", originals, dtype=pl.String),
    )


# a field with any of these is a path (`a.b[key=x].c`), not a plain key
_PATH_CHARS = re.compile(r"[.\[\]]")
_PATH_PART = re.compile(r"^(?P<name>[^\[\]]+)(?:\[(?P<select>[^\]]+)\])?$")


def _split_path(path: str) -> list[tuple[str, str | None]]:
    parts = []
    for part in re.split(r"\.(?![^\[]*\])", path):
        match = _PATH_PART.match(part)
        if not match:
            raise IngestFileError(f"field path {path!r}: cannot read the part {part!r}")
        parts.append((match["name"], match["select"]))
    return parts


def _step(value: Any, name: str, select: str | None) -> Any:
    if not isinstance(value, dict):
        return None
    value = value.get(name)
    if select is None:
        return value
    if not isinstance(value, list):
        return None
    if select.lstrip("-").isdigit():
        index = int(select)
        return value[index] if -len(value) <= index < len(value) else None
    key, _, wanted = select.partition("=")
    for element in value:
        if isinstance(element, dict) and str(element.get(key)) == wanted:
            return element
    return None


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return json.dumps(value, ensure_ascii=False, default=str)


def extract_fields(record: dict[str, Any], fields: list[str]) -> dict[str, str | None]:
    """The mapping's fields from one JSON record; a field is a key or a path like `a.b[key=x].c`."""
    result = {}
    for name in fields:
        if name in record:
            result[name] = _as_text(record[name])
            continue
        value: Any = record
        for part, select in _split_path(name):
            value = _step(value, part, select)
        result[name] = _as_text(value)
    return result


def _field_present(record: dict[str, Any], name: str) -> bool:
    if name in record:
        return True
    value: Any = record
    for part, select in _split_path(name):
        if not isinstance(value, dict) or part not in value:
            return False
        value = _step(value, part, select)
    return True


def read_ndjson(path: Path, mapping: EntityMapping) -> pl.DataFrame:
    """Newline-delimited JSON (optionally gzipped): one record per non-blank line."""
    text = _decode(path, _open_bytes(path), mapping.encoding)
    try:
        return _read_ndjson_polars(path, text, mapping)
    except (pl.exceptions.PolarsError, _NotFlat):
        return _read_ndjson_python(path, text, mapping)


class _NotFlat(Exception):
    """A field the fast path cannot turn into text (a nested value): read line by line instead."""


def _path_expr(field: str, schema: pl.Schema) -> pl.Expr | None:
    """A Polars expression for a field or path over the inferred schema; None when absent."""
    parts = [(field, None)] if field in schema else _split_path(field)
    expr: pl.Expr | None = None
    dtype: Any = pl.Struct(schema)
    for name, select in parts:
        if not isinstance(dtype, pl.Struct):
            return None
        fields = {f.name: f.dtype for f in dtype.fields}
        if name not in fields:
            return None
        expr = pl.col(name) if expr is None else expr.struct.field(name)
        dtype = fields[name]
        if select is None:
            continue
        if not isinstance(dtype, pl.List):
            return None
        if select.lstrip("-").isdigit():
            expr = expr.list.get(int(select), null_on_oob=True)
        else:
            key, _, wanted = select.partition("=")
            inner = dtype.inner
            if not isinstance(inner, pl.Struct) or key not in {f.name for f in inner.fields}:
                return None
            expr = expr.list.eval(
                pl.element().filter(pl.element().struct.field(key).cast(pl.String) == wanted)
            ).list.first()
        dtype = dtype.inner
    if isinstance(dtype, pl.Struct | pl.List | pl.Array):
        raise _NotFlat(field)
    if expr is None:
        return None
    return expr.cast(pl.String)


def _read_ndjson_polars(path: Path, text: str, mapping: EntityMapping) -> pl.DataFrame:
    """The fast path: Polars parses every line at once; any surprise falls back line by line."""
    # split in Polars: a Python list of a day's 43,000 lines took about a fifth of reading it
    lines = pl.Series("_original_values", [text]).str.split("\n").explode()
    lines = lines.str.strip_suffix("\r")
    # a line of whitespace is no record; Python's str.strip and Polars disagree only on control
    # characters \x1c-\x1f, and a line of those fails the count check below or the parse
    lines = lines.filter(lines.str.strip_chars() != "")
    if lines.is_empty():
        return _read_ndjson_python(path, text, mapping)
    data = text.encode("utf-8")
    fields = mapping.vendor_fields
    keys = _read_keys_as_text(data, mapping)
    if keys is not None:
        if keys.height != len(lines):
            raise _NotFlat("line count")
        return _with_meta(keys, lines)
    records = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
    if records.height != len(lines):
        raise _NotFlat("line count")
    exprs = {name: _path_expr(name, records.schema) for name in fields}
    _missing_required(path, [n for n, e in exprs.items() if e is not None], mapping)
    columns = [
        (expr if expr is not None else pl.lit(None, pl.String)).alias(name)
        for name, expr in exprs.items()
    ]
    frame = records.select(columns) if columns else _frame({}, records.height)
    return _with_meta(frame, lines)


def _read_keys_as_text(data: bytes, mapping: EntityMapping) -> pl.DataFrame | None:
    """The mapping's fields read straight as text, when every one is a plain top-level key.

    Given the schema, Polars parses each line once; inferring it (over every line, so that a key
    first seen on the last line still counts) took two thirds of reading a day of web events at
    tier L (docs/performance.md). A number comes as its decimal text (1.50 as 1.5, 1e-7 as
    0.0000001), which the typed columns parse to the same value. None, for the inferring read to
    decide, when a field is a path; when a value starts with `{` or `[`; or when a required field
    is null on every line, since only that read tells a key absent from the file (the file fails)
    from one that is only ever empty (its rows are quarantined).
    """
    fields = mapping.vendor_fields
    if not fields or any(_PATH_CHARS.search(name) for name in fields):
        return None
    keys = pl.read_ndjson(io.BytesIO(data), schema=dict.fromkeys(fields, pl.String))
    # Polars writes a nested value with its strings unescaped. The inferring read sends a nested
    # value line by line, which writes it as JSON, and keeps a text that only starts like one.
    if keys.select(pl.any_horizontal(pl.col(fields).str.contains(r"^[\[{]"))).to_series().any():
        return None
    present = {name for name in fields if keys[name].null_count() < keys.height}
    return None if _first_missing_required(present, mapping) else keys


def _with_meta(frame: pl.DataFrame, lines: pl.Series) -> pl.DataFrame:
    return frame.with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("_source_row"),
        pl.lit(None, pl.String).alias("_malformed"),
        lines.alias("_original_values"),
    )


def _read_ndjson_python(path: Path, text: str, mapping: EntityMapping) -> pl.DataFrame:
    """The careful path: line by line, so that a line that is not a JSON object is kept as such."""
    fields = mapping.vendor_fields
    columns: dict[str, list[str | None]] = {name: [] for name in fields}
    rows: list[int] = []
    malformed: list[str | None] = []
    originals: list[str] = []
    seen_fields: set[str] = set()
    number = 0
    # only \n ends a record: JSON text may hold other line separators such as U+2028
    for line in text.split("\n"):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        number += 1
        rows.append(number)
        try:
            record = json.loads(line)
        except ValueError as exc:
            record, problem = None, f"not valid JSON ({exc})"
        else:
            problem = None if isinstance(record, dict) else "not a JSON object"
        if problem is not None or not isinstance(record, dict):
            for name in fields:
                columns[name].append(None)
            malformed.append(f"line {number}: {problem}")
            originals.append(json.dumps({"_line": line}, ensure_ascii=False))
            continue
        for name, value in extract_fields(record, fields).items():
            columns[name].append(value)
        if len(seen_fields) < len(fields):
            seen_fields.update(n for n in fields if _field_present(record, n))
        malformed.append(None)
        originals.append(line)
    if None in malformed:  # at least one record parsed: its fields say which columns exist
        _missing_required(path, seen_fields, mapping)
    return _frame(columns, len(rows)).with_columns(
        pl.Series("_source_row", rows, dtype=pl.Int64),
        pl.Series("_malformed", malformed, dtype=pl.String),
        pl.Series("_original_values", originals, dtype=pl.String),
    )


def read_parquet(path: Path, mapping: EntityMapping) -> pl.DataFrame:
    """A Parquet file: columns and nested paths become text, as for JSON."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        frame = pl.from_arrow(pq.read_table(path))
    except (OSError, pa.ArrowException) as exc:
        raise IngestFileError(f"{path}: cannot be read as Parquet ({exc})") from exc
    assert isinstance(frame, pl.DataFrame)
    fields = mapping.vendor_fields
    flat = [pl.col(n).cast(pl.String) for n, t in frame.schema.items() if not t.is_nested()]
    nested = [pl.col(n) for n, t in frame.schema.items() if t.is_nested()]
    originals = (
        frame.select(pl.struct(flat + nested).struct.json_encode())
        .to_series()
        .alias("_original_values")
        if frame.width
        else pl.Series("_original_values", [], pl.String)
    )
    try:
        exprs = {name: _path_expr(name, frame.schema) for name in fields}
        if frame.height:
            _missing_required(path, [n for n, e in exprs.items() if e is not None], mapping)
        values = frame.select(
            (e if e is not None else pl.lit(None, pl.String)).alias(n) for n, e in exprs.items()
        )
    except _NotFlat:
        # a path that ends on a nested value is written out as JSON, record by record
        records = frame.to_dicts()
        values = _frame(
            {n: [extract_fields(r, [n])[n] for r in records] for n in fields}, frame.height
        )
    return values.with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("_source_row"),
        pl.lit(None, pl.String).alias("_malformed"),
        originals,
    )


def read_file(path: Path, mapping: EntityMapping) -> pl.DataFrame:
    """Any supported file, by its extension."""
    readers = {"csv": read_csv, "ndjson": read_ndjson, "parquet": read_parquet}
    return readers[file_format(path)](path, mapping)
