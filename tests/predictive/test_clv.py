"""CLV models against the published CDNOW results, plus summary, stability and failure messages."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipelines.predictive.clv import (
    BetaGeoModel,
    GammaGammaModel,
    ModelFitError,
    clv_predictions,
    rfm_summary,
    value_tiers,
)

FIXTURES = Path(__file__).parent / "fixtures"
CALIBRATION_END = date(1997, 9, 30)


@pytest.fixture(scope="module")
def cdnow() -> pl.DataFrame:
    return pl.read_csv(FIXTURES / "cdnow_summary.csv")


def _cdnow_transactions() -> pl.DataFrame:
    rows = [
        line.split()
        for line in (FIXTURES / "cdnow_sample_transactions.txt").read_text().splitlines()
    ]
    return pl.DataFrame(
        {
            "customer_key": [int(r[1]) for r in rows],
            "order_date": [date(int(r[2][:4]), int(r[2][4:6]), int(r[2][6:])) for r in rows],
            "net_revenue": [float(r[4]) for r in rows],
        }
    )


def test_bgnbd_reproduces_fader_hardie_lee_2005(cdnow: pl.DataFrame) -> None:
    model = BetaGeoModel().fit(
        cdnow["x"].to_numpy(), cdnow["t_x"].to_numpy(), cdnow["T"].to_numpy()
    )
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert model.params_[name] == pytest.approx(value, rel=0.01), name


def test_gamma_gamma_reproduces_fader_hardie_on_repeat_customers(cdnow: pl.DataFrame) -> None:
    repeat = cdnow.filter(pl.col("x") > 0)
    model = GammaGammaModel().fit(repeat["x"].to_numpy(), repeat["zbar"].to_numpy())
    published = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    for name, value in published.items():
        assert model.params_[name] == pytest.approx(value, rel=0.01), name


def test_conditional_expectation_matches_the_paper_example(cdnow: pl.DataFrame) -> None:
    model = BetaGeoModel().fit(
        cdnow["x"].to_numpy(), cdnow["t_x"].to_numpy(), cdnow["T"].to_numpy()
    )
    # The paper's worked example: x=2, t_x=30.43, T=38.86 expects 1.226 purchases in 39 weeks.
    expected = model.expected_purchases(39, np.array([2]), np.array([30.43]), np.array([38.86]))
    assert expected[0] == pytest.approx(1.226, abs=0.005)
    alive = model.probability_alive(
        np.array([0, 2, 2]), np.array([0, 30.43, 1.0]), np.array([38.86] * 3)
    )
    assert alive[0] == 1.0
    assert alive[2] < alive[1] < 1.0


def test_daily_summary_of_raw_cdnow_transactions_matches_the_published_summary(
    cdnow: pl.DataFrame,
) -> None:
    summary = rfm_summary(_cdnow_transactions(), CALIBRATION_END, time_unit_days=7).sort(
        "customer_key"
    )
    published = cdnow.sort("ID")
    assert summary["customer_key"].to_list() == published["ID"].to_list()
    assert summary["frequency"].to_list() == published["x"].to_list()
    assert np.allclose(summary["recency"].to_numpy(), published["t_x"].to_numpy(), atol=0.006)
    assert np.allclose(summary["T"].to_numpy(), published["T"].to_numpy(), atol=0.006)


def test_same_day_purchases_are_one_purchase_and_later_orders_are_ignored() -> None:
    day = date(2026, 1, 1)
    orders = pl.DataFrame(
        {
            "customer_key": ["a", "a", "a", "a", "a"],
            "order_date": [day, day, day + timedelta(10), day + timedelta(10), day + timedelta(40)],
            "net_revenue": [5.0, 5.0, 8.0, 4.0, 99.0],
        }
    )
    row = rfm_summary(orders, day + timedelta(30)).row(0, named=True)
    assert (row["frequency"], row["recency"], row["T"], row["monetary"]) == (1, 10.0, 30.0, 12.0)


TRUE_BGNBD = {"r": 0.25, "alpha": 20.0, "a": 0.8, "b": 2.5}


def _synthetic_summary(customers: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Daily histories drawn from BG/NBD itself with TRUE_BGNBD, ages of 1 to 730 days."""
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 731, customers).astype(float)
    rate = rng.gamma(TRUE_BGNBD["r"], 1 / TRUE_BGNBD["alpha"], customers)
    dropout = rng.beta(TRUE_BGNBD["a"], TRUE_BGNBD["b"], customers)
    frequency, recency, clock = np.zeros(customers), np.zeros(customers), np.zeros(customers)
    # The first purchase at age 0 never drops out; each repeat purchase may (eq. 3 of the paper).
    active = np.ones(customers, dtype=bool)
    while active.any():
        clock[active] += rng.exponential(1 / rate[active])
        active &= clock < T
        frequency[active] += 1
        recency[active] = clock[active]
        active &= rng.random(customers) >= dropout
    # Same-day purchases are one purchase: the summary works in whole days.
    return frequency, np.floor(recency), T


def test_a_million_customers_fit_without_nan() -> None:
    frequency, recency, T = _synthetic_summary(1_000_000)
    started = time.perf_counter()
    model = BetaGeoModel().fit(frequency, recency, T)
    repeat = frequency > 0
    spend = np.random.default_rng(1).gamma(6.0, 4.0, repeat.sum())
    spend_model = GammaGammaModel().fit(frequency[repeat], spend)
    elapsed = time.perf_counter() - started
    print(
        f"1M customers: BG/NBD {model.params_}, Gamma-Gamma {spend_model.params_}, {elapsed:.1f} s"
    )
    assert all(np.isfinite(v) and v > 0 for v in model.params_.values())
    for name, value in TRUE_BGNBD.items():
        assert model.params_[name] == pytest.approx(value, rel=0.1), name
    assert all(np.isfinite(v) and v > 0 for v in spend_model.params_.values())
    predicted = model.expected_purchases(365, frequency, recency, T)
    assert np.all(np.isfinite(predicted)) and np.all(predicted >= 0)


def test_a_failed_fit_names_the_model_and_the_data() -> None:
    # A last purchase after the end of observation is a broken summary, not a customer.
    with pytest.raises(ModelFitError, match=r"BG/NBD fit failed.*recency <= T.*3 customers"):
        BetaGeoModel().fit(np.ones(3), np.array([5.0, 25.0, 5.0]), np.array([10.0, 20.0, 30.0]))
    with pytest.raises(ModelFitError, match=r"Gamma-Gamma fit failed.*monetary > 0"):
        GammaGammaModel().fit(np.array([1.0, 2.0]), np.array([10.0, 0.0]))


def test_clv_predictions_per_customer_from_orders() -> None:
    rng = np.random.default_rng(3)
    start = date(2025, 1, 1)
    rows = []
    for customer in range(300):
        first = rng.integers(0, 200)
        # Loyal customers keep coming back, lapsed ones stop after a month, the rest came once more.
        kind = customer % 3
        span, repeats = [(360, 8), (30, 4), (200, 1)][kind]
        visits = {first, *(first + rng.integers(1, span, repeats))}
        for day in visits:
            rows.append(
                (f"c{customer}", start + timedelta(int(day)), float(rng.gamma(5, 4)), False)
            )
    orders = pl.DataFrame(
        rows, schema=["customer_key", "order_date", "net_revenue", "is_return"], orient="row"
    )
    as_of = start + timedelta(400)
    result, _, _ = clv_predictions(orders, as_of, tiers={"High": 0.2, "Medium": 0.3})
    assert result.height == 300
    assert result.null_count().sum_horizontal()[0] == 0
    assert result.filter(pl.col("value_tier") == "High").height == 60
    kind = pl.col("customer_key").str.slice(1).cast(pl.Int64) % 3
    loyal, lapsed = result.filter(kind == 0), result.filter(kind == 1)
    assert loyal["clv_12m"].mean() > 2 * lapsed["clv_12m"].mean()
    assert loyal["p_alive"].mean() > lapsed["p_alive"].mean() + 0.3
    assert (result["expected_purchases_365d"] >= result["expected_purchases_90d"]).all()


def test_equal_clv_gets_the_same_tier_in_any_row_order() -> None:
    # Ten customers; the top 20% boundary falls inside three with the same CLV (the same
    # purchase history): all three go to the lower tier whatever order the rows come in, so
    # High holds at most its 20% and nobody changes tier between two runs on the same data.
    clv = [90.0, 50.0, 50.0, 50.0, 40.0, 30.0, 20.0, 10.0, 5.0, 1.0]
    expected = ["High"] + ["Medium"] * 4 + ["Low"] * 5
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(len(clv))
        labels = value_tiers(
            pl.Series([clv[i] for i in order]), {"High": 0.2, "Medium": 0.3}, "Low"
        )
        assert [labels[int(np.flatnonzero(order == i)[0])] for i in range(len(clv))] == expected
