"""The pair score itself, on records small enough to count by hand."""

from __future__ import annotations

import duckdb
import pytest

from tests.transform.identity_score import pair_score


def test_pair_score_counts_same_person_pairs() -> None:
    # truth: p1 owns a, b, c; p2 owns d, e. Prediction: {a, b}, {c, d}, e alone (no key).
    assignments = """
        select * from (values
            ('a', 'p1', 'k1'), ('b', 'p1', 'k1'), ('c', 'p1', 'k2'),
            ('d', 'p2', 'k2'), ('e', 'p2', null)
        ) as t(record_id, person_id, customer_key)
    """
    with duckdb.connect() as con:
        score = pair_score(con, assignments)
    # true pairs: ab ac bc de = 4; predicted: ab, cd = 2; correct: ab = 1
    assert (score.true_pairs, score.predicted_pairs, score.correct_pairs) == (4, 2, 1)
    assert score.precision == pytest.approx(0.5)
    assert score.recall == pytest.approx(0.25)
