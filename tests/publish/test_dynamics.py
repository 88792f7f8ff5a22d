"""Who moved: membership history, transitions and changes, and re-publishing a day changes nothing."""

from __future__ import annotations

from tests.publish.fixture_warehouse import (
    FIRST_AS_OF,
    HISTORY,
    SECOND_AS_OF,
    write_candidates,
    write_predictions,
)

TRANSITIONS = "select * from segments.segment_transitions order by all"
CHANGES = "select * from segments.segment_changes order by all"
KPIS = "select * from segments.segment_kpis order by all"
SEGMENTS = "select * from segments.customer_segments order by all"


def test_a_customer_who_moved_closes_one_stay_and_opens_the_next(site, publish):
    write_candidates(site.warehouse, FIRST_AS_OF)
    publish()
    assert site.rows(CHANGES) == [], "the first publication must not flood welcome flows"

    write_candidates(site.warehouse, SECOND_AS_OF)
    publish()

    c03_rfm = site.rows(
        "select segment, valid_from, valid_to from segments.segment_membership_history "
        "where customer_key = 'c03' and segment_type = 'rfm_segment' order by valid_from"
    )
    assert c03_rfm == [("Loyal", FIRST_AS_OF, SECOND_AS_OF), ("At risk", SECOND_AS_OF, None)]
    # a customer who stayed keeps one open row from the first date
    assert site.rows(
        "select segment, valid_from, valid_to from segments.segment_membership_history "
        "where customer_key = 'c01' and segment_type = 'rfm_segment'"
    ) == [("Champions", FIRST_AS_OF, None)]

    moved = site.rows(
        "select customer_key, previous_segment, new_segment, as_of_date "
        "from segments.segment_changes where segment_type = 'rfm_segment' order by customer_key"
    )
    assert moved == [
        ("c03", "Loyal", "At risk", SECOND_AS_OF),
        ("c11", "New customers", "Promising", SECOND_AS_OF),
        ("c13", None, "New customers", SECOND_AS_OF),  # first seen: the welcome trigger
    ]
    assert site.rows(
        "select customer_key, previous_segment, new_segment from segments.segment_changes "
        "where segment_type = 'lifecycle_stage' and customer_key = 'c03'"
    ) == [("c03", "active", "lapsing")]

    rfm_transitions = dict(
        ((source, target), customers)
        for source, target, customers in site.rows(
            "select from_segment, to_segment, customers from segments.segment_transitions "
            f"where as_of_date = '{SECOND_AS_OF}' and segment_type = 'rfm_segment'"
        )
    )
    assert rfm_transitions[("Loyal", "At risk")] == 1
    assert rfm_transitions[("Loyal", "Loyal")] == 1  # c04 stayed
    assert rfm_transitions[("At risk", "At risk")] == 2
    assert rfm_transitions[(None, "New customers")] == 1
    # rows balance: the previous 12 customers leave from somewhere, all 13 arrive somewhere
    assert sum(n for (source, _), n in rfm_transitions.items() if source is not None) == 12
    assert sum(rfm_transitions.values()) == 13


def test_republishing_the_same_as_of_changes_nothing(site, publish):
    write_candidates(site.warehouse, FIRST_AS_OF)
    publish(run_id="first")
    write_candidates(site.warehouse, SECOND_AS_OF)
    write_predictions(site.warehouse, SECOND_AS_OF)
    publish(run_id="second")
    before = {sql: site.rows(sql) for sql in (HISTORY, TRANSITIONS, CHANGES, KPIS, SEGMENTS)}
    csv_before = sorted(p.relative_to(site.exports) for p in site.exports.rglob("*.csv"))

    publish(run_id="second-again")

    for sql, rows in before.items():
        assert site.rows(sql) == rows, f"re-publishing changed: {sql}"
    assert site.rows("select as_of_date, run_id from segments.publication") == [
        (SECOND_AS_OF, "second-again")
    ]
    assert sorted(p.relative_to(site.exports) for p in site.exports.rglob("*.csv")) == csv_before
    assert sorted(p.name for p in site.exports.iterdir()) == [
        "2025-06-01",
        "2025-06-08",
        "latest.json",
    ]


def test_predictive_types_appearing_later_do_not_count_as_changes(site, publish):
    write_candidates(site.warehouse, FIRST_AS_OF)
    publish()
    write_candidates(site.warehouse, SECOND_AS_OF)
    write_predictions(site.warehouse, SECOND_AS_OF)
    outcome = publish()

    assert "churn_risk_band" in outcome.publication.segment_types
    assert site.rows(
        "select count(*) from segments.segment_changes where segment_type = 'churn_risk_band'"
    ) == [(0,)]
    assert site.rows(
        "select churn_risk_band, p_alive from segments.customer_segments where customer_key = 'c08'"
    ) == [("high", 0.3)]
    # every customer now has an open churn-risk stay starting at the second date
    assert site.rows(
        "select count(*), min(valid_from) from segments.segment_membership_history "
        "where segment_type = 'churn_risk_band' and valid_to is null"
    ) == [(13, SECOND_AS_OF)]
