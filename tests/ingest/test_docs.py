"""docs/sources.md documents exactly the canonical columns the loader uses, and every preset."""

from __future__ import annotations

import re

from pipelines.ingest.mapping import COLUMN_KEYS, PRESETS_DIR
from pipelines.ingest.schema import ENTITIES, REASONS
from pipelines.settings import PROJECT_ROOT

DOC = (PROJECT_ROOT / "docs" / "sources.md").read_text(encoding="utf-8")


def documented_columns(source: str, entity: str) -> list[tuple[str, str, bool]]:
    section = DOC.split(f"### `{source}` / `{entity}`", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| (yes|no) \|", section, flags=re.MULTILINE)
    return [(name, type_, required == "yes") for name, type_, required in rows]


def test_every_canonical_column_is_documented_with_type_and_required() -> None:
    for (source, name), entity in ENTITIES.items():
        expected = [(c.name, c.type, c.required) for c in entity.columns]
        assert documented_columns(source, name) == expected, f"{source}/{name}"


def test_reasons_presets_and_mapping_keys_are_documented() -> None:
    for reason in REASONS:
        assert f"`{reason}`" in DOC
    for preset in PRESETS_DIR.glob("*.yaml"):
        assert f"`{preset.stem}`" in DOC
    for key in COLUMN_KEYS:
        assert f"`{key}`" in DOC
