"""Column mappings: how a vendor's export becomes the canonical columns, written in YAML.

A mapping file (a preset in `pipelines/ingest/mappings/` or a user's own file) names, per entity,
which files it reads and where each canonical column comes from. `pipelines/config/sources.yaml`
says which mapping each source (or entity) uses. Everything is validated when loaded, and every
error names the file, the entity, the column and what was expected.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipelines.ingest.schema import ENTITIES, SOURCES, Entity, entities_of
from pipelines.settings import CONFIG_DIR

PRESETS_DIR = Path(__file__).resolve().parent / "mappings"
DEFAULT_SOURCES_CONFIG = CONFIG_DIR / "sources.yaml"
EPOCH_UNITS = ("seconds", "milliseconds", "microseconds")

COLUMN_KEYS = {
    "from": "vendor column name, or a list of aliases (the first one present wins); for JSON, a path",
    "concat": "list of vendor columns joined with a space (e.g. a date and a time column)",
    "value": "a constant for every row (e.g. channel: online)",
    "format": "strftime format of a timestamp or date (e.g. '%d/%m/%Y %H:%M')",
    "unit": f"epoch number unit of a timestamp: {', '.join(EPOCH_UNITS)}",
    "true_values": "words meaning true for a boolean (case-insensitive)",
    "false_values": "words meaning false for a boolean (case-insensitive)",
    "scale": "multiply a number by this (0.01 turns cents into units)",
    "strip_currency": "remove currency symbols and thousands separators ('$1,234.50' -> 1234.50)",
    "absolute": "drop the sign of a number (discounts exported as negatives)",
    "divide_by": "vendor column to divide the number by (a line total into a unit price)",
    "extract": "regular expression with one group: keep what the group matches",
    "lowercase": "lower-case the text",
    "map": "dictionary of vendor value -> canonical value (unlisted values stay as they are)",
    "default": "value used where the vendor's value is empty",
    "counter_within": "1-based position of the row among the file's rows with the same value of this canonical column (a line number)",
}
ENTITY_KEYS = {"files", "columns", "match_canonical_names", "csv"}
CSV_KEYS = {"delimiter", "encoding"}


class MappingError(ValueError):
    """A mapping or sources file that cannot be used as written."""


@dataclass(frozen=True)
class ColumnRule:
    """Where one canonical column comes from and how its text is turned into the canonical value."""

    canonical: str
    sources: tuple[str, ...] = ()
    concat: tuple[str, ...] = ()
    value: str | None = None
    format: str | None = None
    unit: str | None = None
    true_values: tuple[str, ...] = ("true", "t", "yes", "y", "1")
    false_values: tuple[str, ...] = ("false", "f", "no", "n", "0")
    scale: float | None = None
    strip_currency: bool = False
    absolute: bool = False
    divide_by: str | None = None
    extract: str | None = None
    lowercase: bool = False
    map: dict[str, str] = field(default_factory=dict)
    default: str | None = None
    counter_within: str | None = None

    @property
    def vendor_fields(self) -> tuple[str, ...]:
        """Every vendor column (or JSON path) this rule reads."""
        return self.sources + self.concat + ((self.divide_by,) if self.divide_by else ())


@dataclass(frozen=True)
class EntityMapping:
    entity: Entity
    mapping_name: str
    files: str
    rules: tuple[ColumnRule, ...]
    delimiter: str = ","
    encoding: str = "utf-8"

    @property
    def vendor_fields(self) -> list[str]:
        seen: dict[str, None] = {}
        for rule in self.rules:
            for name in rule.vendor_fields:
                seen.setdefault(name, None)
        return list(seen)

    def rule(self, canonical: str) -> ColumnRule | None:
        return next((r for r in self.rules if r.canonical == canonical), None)


def _as_names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise MappingError(f"{where}: expected a column name or a list of names, found {value!r}")


def _word(value: Any, where: str) -> str:
    if isinstance(value, bool):
        raise MappingError(
            f"{where}: found {value!r}; YAML reads unquoted yes/no/on/off/true/false as a "
            'boolean, write the vendor\'s word in quotes (e.g. "yes")'
        )
    if not isinstance(value, str | int | float):
        raise MappingError(f"{where}: expected a word or number, found {value!r}")
    return str(value)


def _flag(spec: dict[str, Any], key: str, where: str) -> bool:
    value = spec.get(key, False)
    if not isinstance(value, bool):
        raise MappingError(f"{where}: '{key}' must be true or false, found {value!r}")
    return value


def _text(spec: dict[str, Any], key: str, where: str) -> str | None:
    value = spec.get(key)
    if value is None:
        return None
    return _word(value, f"{where}, {key}")


def parse_column_rule(entity: Entity, canonical: str, spec: Any, where: str) -> ColumnRule:
    """One `columns:` entry: either a vendor column name or a mapping of the keys in COLUMN_KEYS."""
    where = f"{where}, column '{canonical}'"
    if canonical not in entity.column_names:
        raise MappingError(
            f"{where}: '{canonical}' is not a canonical column of {entity.source}/{entity.name}; "
            f"expected one of {', '.join(entity.column_names)}"
        )
    if isinstance(spec, str | list):
        return ColumnRule(canonical, sources=_as_names(spec, where))
    if not isinstance(spec, dict):
        raise MappingError(f"{where}: expected a column name or a mapping, found {spec!r}")
    unknown = set(spec) - set(COLUMN_KEYS)
    if unknown:
        raise MappingError(
            f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
            f"expected some of {', '.join(COLUMN_KEYS)}"
        )
    given = [k for k in ("from", "concat", "value", "counter_within") if k in spec]
    if len(given) != 1:
        raise MappingError(
            f"{where}: say where the value comes from with exactly one of from, concat, value, "
            f"counter_within; found {', '.join(given) or 'none'}"
        )
    column_type = entity.column(canonical).type
    kwargs: dict[str, Any] = {}
    if "from" in spec:
        kwargs["sources"] = _as_names(spec["from"], where)
    if "concat" in spec:
        kwargs["concat"] = _as_names(spec["concat"], where)
    if "value" in spec:
        kwargs["value"] = _text(spec, "value", where)
    if "counter_within" in spec:
        target = _text(spec, "counter_within", where)
        if target not in entity.column_names:
            raise MappingError(
                f"{where}: counter_within names '{target}', which is not a canonical column"
            )
        if column_type != "integer":
            raise MappingError(f"{where}: counter_within makes an integer, not a {column_type}")
        kwargs["counter_within"] = target
    for key in ("format", "extract", "default", "divide_by"):
        kwargs[key] = _text(spec, key, where)
    if kwargs["format"] and column_type not in ("timestamp", "date"):
        raise MappingError(f"{where}: 'format' applies to a timestamp or date, not a {column_type}")
    if kwargs["extract"]:
        try:
            groups = re.compile(kwargs["extract"]).groups
        except re.error as exc:
            raise MappingError(f"{where}: 'extract' is not a regular expression: {exc}") from exc
        if groups != 1:
            raise MappingError(f"{where}: 'extract' needs exactly one (group), found {groups}")
    if "unit" in spec:
        if spec["unit"] not in EPOCH_UNITS or column_type != "timestamp":
            raise MappingError(
                f"{where}: 'unit' is for timestamps and one of {', '.join(EPOCH_UNITS)}, "
                f"found {spec['unit']!r} on a {column_type}"
            )
        kwargs["unit"] = spec["unit"]
    if "scale" in spec:
        if isinstance(spec["scale"], bool) or not isinstance(spec["scale"], int | float):
            raise MappingError(f"{where}: 'scale' must be a number, found {spec['scale']!r}")
        kwargs["scale"] = float(spec["scale"])
    for key in ("true_values", "false_values"):
        if key in spec:
            if column_type != "boolean":
                raise MappingError(f"{where}: '{key}' applies to a boolean, not a {column_type}")
            words = spec[key] if isinstance(spec[key], list) else [spec[key]]
            kwargs[key] = tuple(_word(v, f"{where}, {key}").lower() for v in words)
    if "map" in spec:
        if not isinstance(spec["map"], dict):
            raise MappingError(f"{where}: 'map' must be a dictionary, found {spec['map']!r}")
        kwargs["map"] = {
            _word(k, f"{where}, map"): _word(v, f"{where}, map") for k, v in spec["map"].items()
        }
    for key in ("strip_currency", "absolute", "lowercase"):
        kwargs[key] = _flag(spec, key, where)
    numeric_only = ("scale", "strip_currency", "absolute", "divide_by")
    if column_type not in ("integer", "double") and any(spec.get(k) for k in numeric_only):
        raise MappingError(
            f"{where}: {', '.join(k for k in numeric_only if spec.get(k))} apply to numbers, "
            f"not a {column_type}"
        )
    return ColumnRule(canonical, **kwargs)


def parse_entity_mapping(entity: Entity, spec: Any, mapping_name: str, where: str) -> EntityMapping:
    where = f"{where}, entity '{entity.name}'"
    if not isinstance(spec, dict):
        raise MappingError(f"{where}: expected a mapping with files and columns, found {spec!r}")
    unknown = set(spec) - ENTITY_KEYS
    if unknown:
        raise MappingError(
            f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
            f"expected some of {', '.join(sorted(ENTITY_KEYS))}"
        )
    files = spec.get("files", f"{entity.name}*")
    if not isinstance(files, str):
        raise MappingError(f"{where}: 'files' must be a file name pattern, found {files!r}")
    columns = spec.get("columns") or {}
    if not isinstance(columns, dict):
        raise MappingError(f"{where}: 'columns' must map canonical columns, found {columns!r}")
    rules = {name: parse_column_rule(entity, name, rule, where) for name, rule in columns.items()}
    if _flag(spec, "match_canonical_names", where):
        for name in entity.column_names:
            rules.setdefault(name, ColumnRule(name, sources=(name,)))
    missing = [name for name in entity.required if name not in rules]
    if missing:
        raise MappingError(
            f"{where}: required canonical column(s) {', '.join(missing)} are not mapped; "
            "add them under columns (or set match_canonical_names: true)"
        )
    csv = spec.get("csv") or {}
    if not isinstance(csv, dict) or set(csv) - CSV_KEYS:
        raise MappingError(f"{where}: 'csv' takes delimiter and encoding, found {csv!r}")
    delimiter = str(csv.get("delimiter", ","))
    if len(delimiter) != 1:
        raise MappingError(f"{where}: csv delimiter must be one character, found {delimiter!r}")
    encoding = str(csv.get("encoding", "utf-8"))
    try:
        "".encode(encoding)
    except LookupError as exc:
        raise MappingError(f"{where}: unknown csv encoding {encoding!r}") from exc
    ordered = tuple(rules[name] for name in entity.column_names if name in rules)
    return EntityMapping(entity, mapping_name, files, ordered, delimiter, encoding)


def mapping_path(name_or_path: str, relative_to: Path) -> Path:
    """A preset name (`shopify_orders`) or a path to a YAML file (relative to the sources file)."""
    if name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path)
        return path if path.is_absolute() else relative_to / path
    return PRESETS_DIR / f"{name_or_path}.yaml"


def load_mapping_file(path: Path, source: str) -> dict[str, EntityMapping]:
    """Every entity a mapping file defines for `source`, validated."""
    if not path.is_file():
        presets = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")))
        raise MappingError(f"mapping file {path} does not exist; presets are: {presets}")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from exc
    entities = document.get("entities") if isinstance(document, dict) else None
    if not isinstance(entities, dict) or not entities:
        raise MappingError(f"{path}: expected a top-level 'entities:' mapping entity names")
    declared = document.get("source")
    if declared is not None and declared != source:
        raise MappingError(
            f"{path}: this mapping is for source '{declared}' but is selected for '{source}' "
            f"in the sources file; expected a mapping for {source}"
        )
    names = {e.name for e in entities_of(source)}
    result = {}
    for name, spec in entities.items():
        if name not in names:
            continue
        result[name] = parse_entity_mapping(ENTITIES[(source, name)], spec, path.stem, str(path))
    return result


def sources_config_path() -> Path:
    return Path(os.environ.get("INGEST_SOURCES_CONFIG", DEFAULT_SOURCES_CONFIG))


def load_source_mappings(source: str, config_path: Path | None = None) -> dict[str, EntityMapping]:
    """The mapping of every entity of `source`, as `sources.yaml` selects (canonical by default)."""
    config_path = config_path or sources_config_path()
    if not config_path.is_file() and config_path != DEFAULT_SOURCES_CONFIG:
        raise MappingError(f"sources file {config_path} does not exist (INGEST_SOURCES_CONFIG)")
    selected: Any = "canonical"
    if config_path.is_file():
        try:
            document = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise MappingError(f"{config_path}: not valid YAML: {exc}") from exc
        mappings = document.get("mappings", {}) if isinstance(document, dict) else None
        if not isinstance(mappings, dict):
            raise MappingError(f"{config_path}: expected 'mappings:' with one entry per source")
        unknown = set(mappings) - set(SOURCES)
        if unknown:
            raise MappingError(
                f"{config_path}: unknown source(s) {', '.join(sorted(unknown))}; "
                f"expected some of {', '.join(SOURCES)}"
            )
        selected = mappings.get(source, "canonical")
    entity_names = [e.name for e in entities_of(source)]
    if isinstance(selected, str):
        per_entity = dict.fromkeys(entity_names, selected)
    elif isinstance(selected, dict) and set(selected) <= set(entity_names):
        per_entity = {name: str(selected.get(name, "canonical")) for name in entity_names}
    else:
        raise MappingError(
            f"{config_path}: mappings.{source} must be a mapping name or a dictionary of "
            f"{', '.join(entity_names)} -> mapping name, found {selected!r}"
        )
    loaded: dict[Path, dict[str, EntityMapping]] = {}
    result: dict[str, EntityMapping] = {}
    canonical = load_mapping_file(mapping_path("canonical", config_path.parent), source)
    for name, choice in per_entity.items():
        path = mapping_path(choice, config_path.parent)
        if path not in loaded:
            loaded[path] = load_mapping_file(path, source)
        # an entity the chosen mapping does not describe is read in the canonical layout
        result[name] = loaded[path].get(name) or canonical[name]
    return result
