"""Rule-based segments on small hand-written customers whose segments are known by hand."""

from datetime import date, datetime

import polars as pl
import pytest

from pipelines.segmentation.config import SEGMENT_DEFAULTS, load_segment_config
from pipelines.segmentation.rules import (
    RFM_SEGMENTS,
    SEGMENT_TYPES,
    rfm_segment_for,
    rule_based_segments,
)

AS_OF = date(2026, 3, 2)
PREFERENCES = {"coffee": "Coffee lovers", "breakfast": "Breakfast regulars"}


def customer(key: str, **values) -> dict:
    row = {
        "customer_key": key,
        "as_of_date": AS_OF,
        "first_order_at": datetime(2025, 1, 10, 9, 0),
        "recency_days": 10,
        "frequency": 3,
        "frequency_365d": 3,
        "monetary": 30.0,
        "tenure_days": 420,
        "web_sessions_30d": 0,
        "cart_abandonments_30d": 0,
        "is_first_time_visitor": False,
        "top_category": "coffee",
        "top_category_share": 0.8,
    }
    row.update(values)
    return row


def segments_of(rows: list[dict], shares: pl.DataFrame | None = None, config=None) -> dict:
    frame = pl.DataFrame(rows)
    result = rule_based_segments(
        frame, shares, config or load_segment_config(), preference_names=PREFERENCES
    )
    return {row["customer_key"]: row for row in result.iter_rows(named=True)}


@pytest.mark.parametrize(
    ("r", "f", "segment"),
    [
        (5, 5, "Champions"),
        (5, 4, "Champions"),
        (4, 5, "Loyal"),
        (3, 4, "Loyal"),
        (5, 2, "Potential loyalists"),
        (5, 1, "New customers"),
        (4, 1, "Promising"),
        (3, 3, "Need attention"),
        (3, 1, "About to sleep"),
        (2, 5, "Can't lose them"),
        (1, 4, "At risk"),
        (2, 2, "Hibernating"),
        (1, 1, "Lost"),
    ],
)
def test_rfm_grid_names_the_standard_segment(r: int, f: int, segment: str) -> None:
    assert rfm_segment_for(r, f) == segment


def test_every_cell_of_the_grid_has_a_segment_and_every_segment_a_cell() -> None:
    named = {rfm_segment_for(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert named == set(RFM_SEGMENTS)
    assert len(RFM_SEGMENTS) == 11


def test_scores_are_quintiles_with_recency_reversed() -> None:
    # Ten buyers: c0 bought yesterday and most often, c9 a year ago, once.
    rows = [
        customer(f"c{i}", recency_days=1 + 40 * i, frequency=20 - 2 * i, monetary=200.0 - 20 * i)
        for i in range(10)
    ]
    result = segments_of(rows)
    assert (result["c0"]["r_score"], result["c0"]["f_score"], result["c0"]["m_score"]) == (5, 5, 5)
    assert result["c0"]["rfm_segment"] == "Champions"
    assert (result["c9"]["r_score"], result["c9"]["f_score"]) == (1, 1)
    assert result["c9"]["rfm_segment"] == "Lost"
    assert sorted(r["r_score"] for r in result.values()) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_a_recent_one_time_buyer_among_regulars_is_a_new_customer() -> None:
    regulars = [customer(f"r{i}", recency_days=20 + 10 * i, frequency=5 + i) for i in range(9)]
    newcomer = customer("new", recency_days=1, frequency=1, first_order_at=datetime(2026, 3, 1))
    result = segments_of([*regulars, newcomer])
    assert result["new"]["r_score"] == 5
    assert result["new"]["f_score"] == 1
    assert result["new"]["rfm_segment"] == "New customers"
    assert result["new"]["lifecycle_stage"] == "new"


def test_customers_with_equal_frequency_share_a_score() -> None:
    rows = [customer(f"c{i}", recency_days=i + 1, frequency=1 if i < 5 else 10) for i in range(10)]
    result = segments_of(rows)
    assert len({result[f"c{i}"]["f_score"] for i in range(5)}) == 1


def test_a_customer_without_orders_is_named_and_not_scored() -> None:
    rows = [
        customer("buyer"),
        customer(
            "signup",
            recency_days=None,
            frequency=0,
            frequency_365d=0,
            monetary=0.0,
            first_order_at=None,
            tenure_days=5,
            top_category=None,
            top_category_share=None,
        ),
    ]
    result = segments_of(rows)["signup"]
    assert (result["r_score"], result["f_score"], result["m_score"]) == (None, None, None)
    assert result["rfm_segment"] == "No purchase yet"
    assert result["category_preference"] == "No purchase yet"
    assert result["frequency_tier"] == "low"
    assert result["lifecycle_stage"] == "new"


@pytest.mark.parametrize(
    ("orders", "tier"), [(0, "low"), (3, "low"), (4, "medium"), (11, "medium"), (12, "high")]
)
def test_frequency_tier_by_orders_in_the_last_year(orders: int, tier: str) -> None:
    assert segments_of([customer("c", frequency_365d=orders)])["c"]["frequency_tier"] == tier


@pytest.mark.parametrize(
    ("first_order", "recency", "stage"),
    [
        (datetime(2026, 2, 20), 3, "new"),
        (datetime(2025, 1, 1), 60, "active"),
        (datetime(2025, 1, 1), 61, "lapsing"),
        (datetime(2025, 1, 1), 180, "lapsing"),
        (datetime(2025, 1, 1), 181, "lapsed"),
    ],
)
def test_lifecycle_stage_by_days(first_order: datetime, recency: int, stage: str) -> None:
    row = customer("c", first_order_at=first_order, recency_days=recency)
    assert segments_of([row])["c"]["lifecycle_stage"] == stage


def test_web_behaviour_cart_abandoners_before_browsers_before_first_visits() -> None:
    rows = [
        customer("abandoner", cart_abandonments_30d=1, web_sessions_30d=9),
        customer("browser", web_sessions_30d=4),
        customer("first", web_sessions_30d=1, is_first_time_visitor=True),
        customer("offline", web_sessions_30d=None, cart_abandonments_30d=None),
    ]
    result = segments_of(rows)
    assert {k: v["web_behaviour"] for k, v in result.items()} == {
        "abandoner": "cart abandoners",
        "browser": "frequent browsers",
        "first": "first-time visitors",
        "offline": "none",
    }


def test_category_preference_from_the_catalogue_only_above_the_share_threshold() -> None:
    shares = pl.DataFrame(
        {
            "customer_key": ["fan", "fan", "mixed", "mixed", "mixed"],
            "category_code": ["breakfast", "coffee", "coffee", "breakfast", "tea"],
            "share": [0.7, 0.3, 0.35, 0.35, 0.3],
        }
    )
    result = segments_of([customer("fan"), customer("mixed")], shares)
    assert result["fan"]["category_preference"] == "Breakfast regulars"
    assert result["mixed"]["category_preference"] == "Mixed basket"


def test_thresholds_come_from_the_yaml_file(tmp_path) -> None:
    path = tmp_path / "segments.yaml"
    path.write_text("frequency_tiers:\n  high_min_orders_365d: 5\n")
    config = load_segment_config(path)
    assert config["frequency_tiers"]["medium_min_orders_365d"] == 4
    assert (
        segments_of([customer("c", frequency_365d=5)], config=config)["c"]["frequency_tier"]
        == "high"
    )
    assert load_segment_config(tmp_path / "absent.yaml") == SEGMENT_DEFAULTS


def test_every_customer_gets_exactly_one_value_per_segment_type() -> None:
    rows = [customer(f"c{i}", recency_days=3 * i + 1, frequency=i + 1) for i in range(25)]
    rows.append(customer("none", recency_days=None, frequency=0, top_category=None))
    frame = rule_based_segments(
        pl.DataFrame(rows), config=load_segment_config(), preference_names=PREFERENCES
    )
    assert frame.height == 26
    assert frame["customer_key"].n_unique() == 26
    for segment_type in SEGMENT_TYPES:
        assert frame[segment_type].null_count() == 0, segment_type
