"""A long range is read in chunks of whole days, sized by the text the files hold once unzipped.

Web events compress about 15 times: chunks sized by bytes on disk let one read hold a whole
two-year backfill of a 10,000-customer shop (5.4 GB at the peak, docs/performance.md).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from pipelines.ingest.loader import chunks, landed_bytes
from tests.ingest.conftest import Landing


def _events_text(day: str, events: int) -> str:
    lines = [
        json.dumps(
            {
                "event_timestamp": f"{day}T10:00:{i % 60:02d}",
                "event_name": "page_view",
                "user_pseudo_id": "1342307627.1751389426",
                "page_location": "https://shop.example/product/BEA-001",
            }
        )
        for i in range(events)
    ]
    return "\n".join(lines) + "\n"


def _web_day(landing: Landing, day: str, events: int) -> Path:
    return landing.write("web", day, "events.ndjson.gz", _events_text(day, events))


def test_a_gzipped_file_counts_its_unzipped_size(landing: Landing) -> None:
    path = _web_day(landing, "2025-03-03", 500)
    text = _events_text("2025-03-03", 500).encode()
    assert path.stat().st_size * 10 < len(text)  # repetitive events compress well
    assert landed_bytes(path) == len(text)


def test_plain_files_count_their_size_on_disk(landing: Landing) -> None:
    path = landing.write("crm", "2025-03-03", "contacts.csv", "contact_id\nC1\nC2\n")
    assert landed_bytes(path) == path.stat().st_size


def test_chunks_keep_whole_days_and_split_by_unzipped_size(landing: Landing) -> None:
    days = ["2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06"]
    files = [(date.fromisoformat(d), _web_day(landing, d, 400)) for d in days]
    day_bytes = landed_bytes(files[0][1])
    on_disk = sum(path.stat().st_size for _, path in files)
    # all four days fit the limit on disk, but only two days of their text do
    limit = 2 * day_bytes + day_bytes // 2
    assert on_disk < limit
    parts = list(chunks(files, limit))
    assert [[day.isoformat() for day, _ in part] for part in parts] == [days[:2], days[2:]]
