"""The landed files the floor and the peer read: the same day folders the pipeline loads."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

# file-name prefixes per source (docs/data-model.md); the longest matching prefix wins
ENTITIES = {
    "crm": ("contacts", "tickets", "email_events"),
    "pos": ("order_lines",),
    "web": ("events",),
}


def landed_days(incoming: Path) -> list[date]:
    """Every day that has a folder with at least one file, under any source."""
    days: set[date] = set()
    for day_dir in incoming.glob("*/*"):
        try:
            day = date.fromisoformat(day_dir.name)
        except ValueError:
            continue
        if day_dir.is_dir() and any(p.is_file() for p in day_dir.iterdir()):
            days.add(day)
    return sorted(days)


def file_format(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith((".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")):
        return "json"
    if name.endswith(".parquet"):
        return "parquet"
    return None


def landed_files(incoming: Path, first: date, last: date) -> dict[str, dict[str, list[Path]]]:
    """Files of the days first..last as `{"<source>_<entity>": {format: [paths]}}`."""
    files: dict[str, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for source, entities in ENTITIES.items():
        for day_dir in sorted((incoming / source).glob("*")):
            try:
                day = date.fromisoformat(day_dir.name)
            except ValueError:
                continue
            if not first <= day <= last:
                continue
            for path in sorted(day_dir.iterdir()):
                fmt = file_format(path)
                matches = [e for e in entities if path.name.startswith(e)]
                if fmt and matches:
                    entity = max(matches, key=len)
                    files[f"{source}_{entity}"][fmt].append(path)
    return {table: dict(by_format) for table, by_format in files.items()}
