"""Pairwise precision and recall of identity resolution against the sample's ground truth.

Records are what the pipeline resolves: orders, CRM contacts and browser cookies. Two records
form a true pair when the truth gives them the same person, a predicted pair when they got the
same customer_key (a record without a key is alone). Precision = true predicted pairs /
predicted pairs; recall = true predicted pairs / true pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class PairScore:
    records: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    def __str__(self) -> str:
        return (
            f"identity resolution over {self.records} records: precision {self.precision:.4f} "
            f"({self.correct_pairs}/{self.predicted_pairs} predicted same-person pairs), "
            f"recall {self.recall:.4f} ({self.correct_pairs}/{self.true_pairs} true pairs)"
        )


def pair_score(con: duckdb.DuckDBPyConnection, assignments: str) -> PairScore:
    """Score a relation of (record_id, person_id, customer_key), one row per record."""
    row = con.execute(
        f"""
        with records as (select * from ({assignments})),
        truth as (
            select count(*) * (count(*) - 1) // 2 as pairs from records group by person_id
        ),
        predicted as (
            select count(*) * (count(*) - 1) // 2 as pairs
            from records where customer_key is not null group by customer_key
        ),
        correct as (
            select count(*) * (count(*) - 1) // 2 as pairs
            from records where customer_key is not null group by customer_key, person_id
        )
        select
            (select count(*) from records),
            (select coalesce(sum(pairs), 0) from truth),
            (select coalesce(sum(pairs), 0) from predicted),
            (select coalesce(sum(pairs), 0) from correct)
        """
    ).fetchone()
    return PairScore(*(int(v) for v in row))


def score_against_truth(warehouse: Path, truth: Path) -> tuple[PairScore, int]:
    """Score a built warehouse against `sample_truth/`; also returns the orders left unscored.

    Scored records: orders with at least one identifier the truth does not call shared (on the
    order lines, or a web purchase on an unshared cookie), CRM contacts, and unshared cookies
    that logged in or bought. A record that carries no identifier, or only shared ones, cannot
    be placed by any method and is left out (anonymous orders, cookies that only browsed).
    """
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute(
            "create temp view truth_identifiers as "
            f"select * from read_parquet('{truth / 'identifiers.parquet'}')"
        )
        con.execute(
            f"create temp view truth_orders as select * from read_parquet('{truth / 'orders.parquet'}')"
        )
        con.execute(
            """
            create temp view shared_values as
            select distinct lower(trim(identifier_value)) as value
            from truth_identifiers where is_shared
            """
        )
        con.execute(
            """
            create temp view identifiable_orders as
            select distinct trim(order_id) as order_id
            from raw.pos_order_lines as lines
            cross join lateral (values (customer_id), (loyalty_id), (email), (phone)) as v(value)
            where nullif(trim(v.value), '') is not null
                and lower(trim(v.value)) not in (select value from shared_values)
            union
            select distinct trim(transaction_id)
            from raw.web_events
            where transaction_id is not null
                and lower(trim(user_pseudo_id)) not in (select value from shared_values)
            """
        )
        con.execute(
            """
            create temp view identifiable_cookies as
            select distinct trim(user_pseudo_id) as user_pseudo_id
            from raw.web_events
            where nullif(trim(user_id), '') is not null or nullif(trim(transaction_id), '') is not null
            """
        )
        unscored = con.execute(
            """
            select count(*) from truth_orders
            where order_id not in (select order_id from identifiable_orders)
            """
        ).fetchone()[0]
        assignments = """
            select 'order:' || truth_orders.order_id as record_id, truth_orders.person_id,
                   orders.customer_key
            from truth_orders
            left join marts.orders using (order_id)
            where truth_orders.person_id is not null
                and truth_orders.order_id in (select order_id from identifiable_orders)
            union all
            select truth_identifiers.identifier_type || ':' || trim(truth_identifiers.identifier_value),
                   any_value(truth_identifiers.person_id), any_value(identifiers.customer_key)
            from truth_identifiers
            left join marts.customer_identifiers as identifiers
                on identifiers.identifier_type = case truth_identifiers.identifier_type
                    when 'user_pseudo_id' then 'cookie' else truth_identifiers.identifier_type end
                and identifiers.identifier_value = trim(truth_identifiers.identifier_value)
            where not truth_identifiers.is_shared
                and (
                    truth_identifiers.identifier_type = 'contact_id'
                    or (truth_identifiers.identifier_type in ('user_pseudo_id', 'cookie')
                        and trim(truth_identifiers.identifier_value) in (
                            select user_pseudo_id from identifiable_cookies))
                )
            group by 1
        """
        return pair_score(con, assignments), unscored
