"""Loading landed days into `raw.*`: usable without Dagster (`load_days`), by tests and benchmarks.

For a source and a set of landing days, each entity's files are read, mapped and checked
together (in chunks of whole days for a very large range), inside one transaction that first
deletes exactly those days: re-loading days replaces them and never duplicates.
"""

from __future__ import annotations

import fnmatch
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import groupby
from pathlib import Path

import duckdb
import polars as pl

from pipelines.ingest.catalog import load_categories
from pipelines.ingest.mapping import EntityMapping, load_source_mappings
from pipelines.ingest.readers import IngestFileError, file_format, original_values_of, read_file
from pipelines.ingest.rows import POLARS_TYPES, row_problems, to_canonical
from pipelines.ingest.schema import (
    ENTITIES,
    REASONS,
    Entity,
    entities_of,
    quarantine_ddl,
    table_ddl,
)
from pipelines.settings import get_paths

# Files read at once per entity, in bytes of landed text (a gzipped file counts uncompressed):
# a large backfill is cut into whole days so memory stays bounded. Reading, checking and loading
# takes about 9 times a chunk's text at the peak (gzipped NDJSON web events), and the next chunk
# is read meanwhile (`_read_ahead`).
CHUNK_BYTES = int(os.environ.get("INGEST_CHUNK_BYTES", 64 * 1024 * 1024))


# Files of one chunk read at once, on threads: unzipping and Polars' parsing release the GIL
READ_THREADS = min(4, os.cpu_count() or 1)

SAMPLE_ROWS = 10


class IngestError(RuntimeError):
    """A load that must not be committed (e.g. rows that neither loaded nor were quarantined)."""


@dataclass
class FileReport:
    file: str
    entity: str
    partition_date: date
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)


@dataclass
class EntityReport:
    source: str
    entity: str
    mapping: str
    rows_read: int = 0
    rows_loaded: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    files: list[FileReport] = field(default_factory=list)
    # the first quarantined rows (file, row, reason, detail), for a person to look at
    quarantine_sample: list[dict[str, object]] = field(default_factory=list)

    @property
    def table(self) -> str:
        return f"raw.{self.source}_{self.entity}"

    @property
    def rows_quarantined(self) -> int:
        return sum(self.quarantined_by_reason.values())


@dataclass
class LoadReport:
    source: str
    days: list[date]
    entities: dict[str, EntityReport] = field(default_factory=dict)
    files_ignored: list[str] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return sum(e.rows_read for e in self.entities.values())

    @property
    def rows_loaded(self) -> int:
        return sum(e.rows_loaded for e in self.entities.values())

    @property
    def rows_quarantined(self) -> int:
        return sum(e.rows_quarantined for e in self.entities.values())


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Every raw table exists, even for a source that never landed: downstream reads them all."""
    con.execute("create schema if not exists raw")
    for entity in ENTITIES.values():
        con.execute(table_ddl(entity))
    con.execute(quarantine_ddl())


def find_files(
    incoming_dir: Path, source: str, days: Iterable[date], mappings: dict[str, EntityMapping]
) -> tuple[dict[str, list[tuple[date, Path]]], list[str]]:
    """The files of each entity in the days' landing folders, and the files no mapping claims."""
    found: dict[str, list[tuple[date, Path]]] = {name: [] for name in mappings}
    ignored: list[str] = []
    for day in sorted(days):
        folder = incoming_dir / source / day.isoformat()
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.name.startswith((".", "_")) or not path.is_file():
                continue
            entity = next(
                (n for n, m in mappings.items() if fnmatch.fnmatch(path.name, m.files)), None
            )
            if entity is None:
                ignored.append(str(path))
                continue
            file_format(path)  # an entity's file with an unknown extension fails the load here
            found[entity].append((day, path))
    return found, ignored


def _read_entity(
    files: Sequence[tuple[date, Path]], mapping: EntityMapping, incoming_dir: Path
) -> pl.DataFrame:
    # Files are read READ_THREADS at a time: one is unzipped while Polars parses another (a day
    # of web events at tier L: about 96 ms one after the other, 70 ms two at a time on 2 cores;
    # docs/performance.md). `map` keeps the files' order, and the first file that cannot be read
    # raises, as it would one after the other.
    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        read = list(pool.map(lambda item: read_file(item[1], mapping), files))
    frames = [
        frame.with_columns(
            pl.lit(day, pl.Date).alias("_partition_date"),
            pl.lit(path.relative_to(incoming_dir).as_posix()).alias("_source_file"),
        )
        for (day, path), frame in zip(files, read, strict=True)
    ]
    schema = {name: pl.String for name in mapping.vendor_fields}
    empty = pl.DataFrame(
        schema={
            **schema,
            "_source_row": pl.Int64,
            "_malformed": pl.String,
            "_original_values": pl.String,
            "_partition_date": pl.Date,
            "_source_file": pl.String,
        }
    )
    return pl.concat([empty, *frames], how="diagonal_relaxed")


def _read_ahead(
    entity_chunks: Iterable[list[tuple[date, Path]]], mapping: EntityMapping, incoming_dir: Path
) -> Iterator[tuple[list[tuple[date, Path]], pl.DataFrame]]:
    """Each chunk with its rows, the next chunk being read while the caller checks and loads.

    Reading is mostly unzipping and parsing, checking and inserting mostly DuckDB and Polars, so
    the two overlap on two cores. At most two chunks are in memory. A file that cannot be read
    raises when its chunk's turn comes, after the chunks before it were checked.
    """
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending: tuple[list[tuple[date, Path]], Future[pl.DataFrame]] | None = None
        for chunk in entity_chunks:
            upcoming = (chunk, reader.submit(_read_entity, chunk, mapping, incoming_dir))
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = upcoming
        if pending is not None:
            yield pending[0], pending[1].result()


def _already_loaded(
    con: duckdb.DuckDBPyConnection, entity: Entity, clean: pl.DataFrame
) -> pl.Series:
    """Row ids of `clean` equal to a row in the table: another day's, or an earlier chunk's.

    The days being loaded were deleted first, so whatever the table holds was loaded before.
    """
    if clean.is_empty():
        return pl.Series("_row_id", [], pl.UInt32)
    # A required column is never null on either side (a row missing one is quarantined before it
    # gets here), so `=` tests the same as `is not distinct from`; with it DuckDB also skips the
    # table's row groups outside the candidates' range of that column. At tier L, 453,311 web
    # events against the 34.6M loaded: 0.99 s with `is not distinct from` on every column, 0.15 s
    # (docs/performance.md). A backfill runs this once per chunk against a growing table.
    required = set(entity.required)
    on = " and ".join(
        f"c.{c} = r.{c}" if c in required else f"c.{c} is not distinct from r.{c}"
        for c in entity.column_names
    )
    candidate_rows = clean.select("_row_id", *entity.column_names)  # noqa: F841 (read by name)
    # an inner join lets DuckDB hash the (small) candidate rows and stream the table past them
    found = con.sql(
        f"select distinct c._row_id from raw.{entity.table} r join candidate_rows c on {on}"
    ).pl()
    return found["_row_id"]


def check_entity(
    con: duckdb.DuckDBPyConnection,
    raw_rows: pl.DataFrame,
    mapping: EntityMapping,
    category_codes: Iterable[str],
    contact_ids: pl.Series | None,
) -> pl.DataFrame:
    """Canonical typed rows with `_reason`/`_detail` (null for rows that load)."""
    entity = mapping.entity
    rows = to_canonical(raw_rows, mapping)
    rows = row_problems(rows, entity, set(category_codes), contact_ids).with_row_index("_row_id")
    clean = rows.filter(pl.col("_reason").is_null())
    # the first copy of identical rows loads; later copies in this load are duplicates
    repeated = clean.filter(~pl.struct(entity.column_names).is_first_distinct())["_row_id"]
    earlier = _already_loaded(con, entity, clean)
    duplicate = pl.col("_row_id").is_in(pl.concat([repeated, earlier]).implode())
    rows = rows.with_columns(
        pl.when(duplicate)
        .then(pl.lit("duplicate_row"))
        .otherwise(pl.col("_reason"))
        .alias("_reason"),
        pl.when(duplicate)
        .then(pl.lit("identical to a row loaded before (same values in every column)"))
        .otherwise(pl.col("_detail"))
        .alias("_detail"),
    )
    # rows keep their position through the checks: `_row_id` indexes `raw_rows` too
    needs_original = rows.select(
        pl.arg_where(pl.col("_reason").is_not_null() & pl.col("_original_values").is_null())
    ).to_series()
    if needs_original.is_empty():
        return rows
    originals = pl.Series(original_values_of(raw_rows[needs_original]), dtype=pl.String)
    return rows.with_columns(rows["_original_values"].scatter(needs_original, originals))


def _contact_ids(con: duckdb.DuckDBPyConnection) -> pl.Series | None:
    ids = con.sql("select distinct contact_id from raw.crm_contacts").pl()["contact_id"]
    # without any CRM contacts there is nothing to check customer ids against
    return ids if len(ids) else None


def _report(
    source: str,
    mapping: EntityMapping,
    files: Sequence[tuple[date, Path]],
    checked: pl.DataFrame,
    incoming_dir: Path,
) -> EntityReport:
    report = EntityReport(source, mapping.entity.name, mapping.mapping_name)
    per_file = checked.group_by("_source_file").agg(
        pl.len().alias("read"),
        pl.col("_reason").is_null().sum().alias("loaded"),
        pl.col("_reason").is_not_null().sum().alias("quarantined"),
    )
    counts = {
        r["_source_file"]: (r["read"], r["loaded"], r["quarantined"])
        for r in per_file.iter_rows(named=True)
    }
    reasons_by_file: dict[str, dict[str, int]] = {}
    for file, reason, rows in (
        checked.filter(pl.col("_reason").is_not_null())
        .group_by("_source_file", "_reason")
        .len()
        .iter_rows()
    ):
        reasons_by_file.setdefault(file, {})[reason] = rows
    for day, path in files:
        name = path.relative_to(incoming_dir).as_posix()
        read, loaded, quarantined = counts.get(name, (0, 0, 0))
        if read != loaded + quarantined:
            raise IngestError(
                f"{name}: {read} rows read but {loaded} loaded + {quarantined} quarantined"
            )
        reasons = reasons_by_file.get(name, {})
        report.files.append(
            FileReport(
                name,
                mapping.entity.name,
                day,
                read,
                loaded,
                quarantined,
                {r: reasons[r] for r in REASONS if r in reasons},
            )
        )
    report.quarantine_sample = (
        checked.filter(pl.col("_reason").is_not_null())
        .head(SAMPLE_ROWS)
        .select(
            pl.col("_source_file").alias("file"),
            pl.col("_source_row").alias("row"),
            pl.col("_reason").alias("reason"),
            pl.col("_detail").alias("detail"),
        )
        .to_dicts()
    )
    report.rows_read = checked.height
    report.rows_loaded = checked.filter(pl.col("_reason").is_null()).height
    by_reason = Counter(checked["_reason"].drop_nulls().to_list())
    report.quarantined_by_reason = {r: by_reason[r] for r in REASONS if by_reason[r]}
    return report


def landed_bytes(path: Path) -> int:
    """The size of a file's content once read: uncompressed for gzip, else the size on disk."""
    size = path.stat().st_size
    if not path.name.lower().endswith(".gz") or size < 18:
        return size
    # gzip's trailer holds the uncompressed size modulo 2**32 (RFC 1952); web events compress
    # about 15 times, so the size on disk would let a chunk hold 15 times the intended rows
    with path.open("rb") as handle:
        handle.seek(-4, os.SEEK_END)
        uncompressed = int.from_bytes(handle.read(4), "little")
    return max(uncompressed, size)


def chunks(files: Sequence[tuple[date, Path]], max_bytes: int) -> Iterator[list[tuple[date, Path]]]:
    """Whole days of files, about `max_bytes` of content per chunk, so memory stays bounded."""
    chunk: list[tuple[date, Path]] = []
    size = 0
    for _, group in groupby(files, key=lambda item: item[0]):
        day_files = list(group)
        day_size = sum(landed_bytes(path) for _, path in day_files)
        if chunk and size + day_size > max_bytes:
            yield chunk
            chunk, size = [], 0
        chunk += day_files
        size += day_size
    if chunk:
        yield chunk


def _merge(total: EntityReport | None, part: EntityReport) -> EntityReport:
    if total is None:
        return part
    total.rows_read += part.rows_read
    total.rows_loaded += part.rows_loaded
    total.files += part.files
    total.quarantine_sample = (total.quarantine_sample + part.quarantine_sample)[:SAMPLE_ROWS]
    reasons = Counter(total.quarantined_by_reason) + Counter(part.quarantined_by_reason)
    total.quarantined_by_reason = {r: reasons[r] for r in REASONS if reasons[r]}
    return total


def load_days(
    con: duckdb.DuckDBPyConnection,
    source: str,
    days: Iterable[date],
    incoming_dir: Path | None = None,
    mappings: dict[str, EntityMapping] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> LoadReport:
    """Load every entity of `source` for `days` into `raw.<source>_<entity>` and `raw.quarantine`.

    In one transaction: those days' earlier rows are deleted, then each entity's files are read,
    checked and inserted a chunk of days at a time (one read per chunk, all days at once for a
    usual range). Raises IngestFileError for a file that cannot be loaded and IngestError if rows
    would be lost; either way nothing of the source is changed.
    """
    days = sorted(set(days))
    incoming_dir = incoming_dir or get_paths().incoming
    mappings = mappings or load_source_mappings(source)
    ensure_tables(con)
    report = LoadReport(source, days)
    files, report.files_ignored = find_files(incoming_dir, source, days, mappings)
    codes = load_categories()["code"].to_list()
    contact_ids = _contact_ids(con) if source == "pos" else None
    # UTC, without a zone, like the other timestamps in the warehouse
    loaded_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    con.execute("begin transaction")
    try:
        _delete_days(con, source, days)
        for entity in entities_of(source):
            mapping = mappings[entity.name]
            entity_report = None
            entity_chunks = chunks(files[entity.name], chunk_bytes)
            for chunk, raw_rows in _read_ahead(entity_chunks, mapping, incoming_dir):
                checked = check_entity(con, raw_rows, mapping, codes, contact_ids)
                part = _report(source, mapping, chunk, checked, incoming_dir)
                if part.rows_read != raw_rows.height or (
                    part.rows_loaded + part.rows_quarantined != raw_rows.height
                ):
                    raise IngestError(
                        f"{source}/{entity.name}: {raw_rows.height} rows read but "
                        f"{part.rows_loaded} loaded + {part.rows_quarantined} quarantined"
                    )
                _insert(con, entity, checked, loaded_at)
                entity_report = _merge(entity_report, part)
            report.entities[entity.name] = entity_report or EntityReport(
                source, entity.name, mapping.mapping_name
            )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return report


def _delete_days(con: duckdb.DuckDBPyConnection, source: str, days: list[date]) -> None:
    days_to_delete = pl.DataFrame({"day": days}, schema={"day": pl.Date})  # noqa: F841
    for entity in entities_of(source):
        con.execute(
            f"delete from raw.{entity.table} "
            "where _partition_date in (select day from days_to_delete)"
        )
        con.execute(
            "delete from raw.quarantine where source = ? and entity = ? "
            "and partition_date in (select day from days_to_delete)",
            [source, entity.name],
        )


def _insert(
    con: duckdb.DuckDBPyConnection, entity: Entity, rows: pl.DataFrame, loaded_at: datetime
) -> None:
    rows_to_load = rows.filter(pl.col("_reason").is_null()).select(  # noqa: F841 (read by name)
        *(pl.col(c.name).cast(POLARS_TYPES[c.type]) for c in entity.columns),
        pl.col("_partition_date"),
        pl.col("_source_file"),
        pl.col("_source_row"),
        pl.lit(loaded_at).alias("_loaded_at"),
    )
    rows_to_quarantine = rows.filter(pl.col("_reason").is_not_null()).select(  # noqa: F841
        pl.lit(entity.source).alias("source"),
        pl.lit(entity.name).alias("entity"),
        pl.col("_partition_date").alias("partition_date"),
        pl.col("_source_file").alias("source_file"),
        pl.col("_source_row").alias("source_row"),
        pl.col("_reason").alias("reason"),
        pl.col("_detail").alias("detail"),
        pl.col("_original_values").alias("original_values"),
        pl.lit(loaded_at).alias("loaded_at"),
    )
    # DuckDB reads the frames by their variable names (a replacement scan). `con.register` would
    # keep every registered frame alive until the load's transaction commits, so a backfill held
    # all its chunks in memory at once (duckdb/duckdb-python#469).
    con.execute(f"insert into raw.{entity.table} by name select * from rows_to_load")
    con.execute("insert into raw.quarantine by name select * from rows_to_quarantine")


__all__ = [
    "EntityReport",
    "FileReport",
    "IngestError",
    "IngestFileError",
    "LoadReport",
    "ensure_tables",
    "load_days",
]
