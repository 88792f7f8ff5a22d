"""The canonical columns of every source entity (docs/data-model.md) and their raw tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnType = Literal["varchar", "integer", "double", "boolean", "date", "timestamp"]

DUCKDB_TYPES: dict[str, str] = {
    "varchar": "VARCHAR",
    "integer": "INTEGER",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}

# Appended to every raw table after the canonical columns.
LINEAGE_COLUMNS: dict[str, str] = {
    "_partition_date": "DATE",
    "_source_file": "VARCHAR",
    "_source_row": "BIGINT",
    "_loaded_at": "TIMESTAMP",
}

QUARANTINE_COLUMNS: dict[str, str] = {
    "source": "VARCHAR",
    "entity": "VARCHAR",
    "partition_date": "DATE",
    "source_file": "VARCHAR",
    "source_row": "BIGINT",
    "reason": "VARCHAR",
    "detail": "VARCHAR",
    "original_values": "JSON",
    "loaded_at": "TIMESTAMP",
}

# The order in which row checks run: a row is quarantined for the first one it fails.
REASONS: tuple[str, ...] = (
    "malformed_row",
    "missing_required",
    "invalid_timestamp",
    "invalid_value",
    "invalid_amount",
    "unknown_category",
    "unknown_customer",
    "duplicate_row",
)


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = False
    meaning: str = ""


@dataclass(frozen=True)
class Entity:
    source: str
    name: str
    columns: tuple[Column, ...]
    natural_key: tuple[str, ...]

    @property
    def table(self) -> str:
        return f"{self.source}_{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.table} has no column {name!r}")


def _c(name: str, type_: ColumnType, required: bool = False, meaning: str = "") -> Column:
    return Column(name, type_, required, meaning)


ENTITIES: dict[tuple[str, str], Entity] = {
    ("crm", "contacts"): Entity(
        "crm",
        "contacts",
        (
            _c("contact_id", "varchar", True, "the CRM's id; also the webshop account id"),
            _c("email", "varchar"),
            _c("phone", "varchar", meaning="any format; normalised downstream"),
            _c("first_name", "varchar"),
            _c("last_name", "varchar"),
            _c("birth_date", "date"),
            _c("gender", "varchar", meaning="free text as the CRM holds it"),
            _c("city", "varchar"),
            _c("postal_code", "varchar"),
            _c("country", "varchar"),
            _c("loyalty_id", "varchar", meaning="loyalty card number"),
            _c("marketing_consent", "boolean", meaning="null means no consent"),
            _c("created_at", "timestamp", True),
            _c("updated_at", "timestamp", True),
        ),
        natural_key=("contact_id", "updated_at"),
    ),
    ("crm", "tickets"): Entity(
        "crm",
        "tickets",
        (
            _c("ticket_id", "varchar", True),
            _c("contact_id", "varchar"),
            _c("email", "varchar"),
            _c("created_at", "timestamp", True),
            _c("category", "varchar", meaning="e.g. delivery, refund, product"),
            _c("satisfaction_score", "integer", meaning="1 to 5"),
            _c("status", "varchar"),
        ),
        natural_key=("ticket_id",),
    ),
    ("crm", "email_events"): Entity(
        "crm",
        "email_events",
        (
            _c("email", "varchar", True),
            _c("contact_id", "varchar"),
            _c("campaign_id", "varchar"),
            _c("event_type", "varchar", True, "sent, open, click, unsubscribe"),
            _c("occurred_at", "timestamp", True),
        ),
        natural_key=("email", "campaign_id", "event_type", "occurred_at"),
    ),
    ("pos", "order_lines"): Entity(
        "pos",
        "order_lines",
        (
            _c("order_id", "varchar", True, "also the web transaction_id of an online order"),
            _c("line_number", "integer", True),
            _c("ordered_at", "timestamp", True),
            _c("channel", "varchar", True, "in_store or online"),
            _c("store_id", "varchar", meaning="null online"),
            _c("customer_id", "varchar", meaning="CRM contact id; null for anonymous orders"),
            _c("loyalty_id", "varchar"),
            _c("email", "varchar", meaning="guest checkout email"),
            _c("phone", "varchar"),
            _c("sku", "varchar", True),
            _c("category_code", "varchar", True, "one of pipelines/config/catalog.yaml"),
            _c("quantity", "integer", True, "negative for a return"),
            _c("unit_price", "double", True, "0 to 10,000"),
            _c("discount_amount", "double", meaning="per line, >= 0"),
        ),
        natural_key=("order_id", "line_number"),
    ),
    ("web", "events"): Entity(
        "web",
        "events",
        (
            _c("event_timestamp", "timestamp", True),
            _c("event_name", "varchar", True),
            _c("user_pseudo_id", "varchar", True, "the browser cookie"),
            _c("user_id", "varchar", meaning="logged-in account (= CRM contact_id)"),
            _c("session_id", "varchar", True, "unique together with user_pseudo_id"),
            _c("page_location", "varchar"),
            _c("sku", "varchar"),
            _c("category_code", "varchar"),
            _c("transaction_id", "varchar", meaning="on purchase: the POS order_id"),
            _c("value", "double"),
            _c("device_category", "varchar", meaning="desktop, mobile, tablet"),
        ),
        natural_key=("user_pseudo_id", "session_id", "event_timestamp", "event_name"),
    ),
}

SOURCES: tuple[str, ...] = ("crm", "pos", "web")


def entities_of(source: str) -> list[Entity]:
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}: expected one of {', '.join(SOURCES)}")
    return [e for (s, _), e in ENTITIES.items() if s == source]


def table_ddl(entity: Entity) -> str:
    columns = [f"{c.name} {DUCKDB_TYPES[c.type]}" for c in entity.columns]
    columns += [f"{name} {type_}" for name, type_ in LINEAGE_COLUMNS.items()]
    return f"create table if not exists raw.{entity.table} ({', '.join(columns)})"


def quarantine_ddl() -> str:
    columns = ", ".join(f"{name} {type_}" for name, type_ in QUARANTINE_COLUMNS.items())
    return f"create table if not exists raw.quarantine ({columns})"
