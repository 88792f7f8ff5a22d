"""Pairwise precision and recall of identity resolution against the sample's ground truth.

Records are what the pipeline resolves: orders, CRM contacts and browser cookies. Two records
form a true pair when the truth gives them the same person, a predicted pair when they got the
same customer_key (a record without a key is alone). Precision = true predicted pairs /
predicted pairs; recall = true predicted pairs / true pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

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
