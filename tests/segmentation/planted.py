"""A synthetic customer-features frame with planted groups whose truth is known."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

AS_OF = date(2026, 3, 2)

# Each planted group: typical orders a year, spend per order, online share, discount share.
GROUPS = {
    "in-store breakfast regulars": dict(
        orders=40, basket=9.0, online=0.02, discount=0.02, share_breakfast=0.7
    ),
    "online discount hunters": dict(
        orders=6, basket=35.0, online=0.9, discount=0.35, share_breakfast=0.05
    ),
    "lapsed one-timers": dict(
        orders=1, basket=12.0, online=0.3, discount=0.05, share_breakfast=0.2
    ),
    "big-basket home brewers": dict(
        orders=8, basket=120.0, online=0.6, discount=0.02, share_breakfast=0.0
    ),
}
RECENCY = {
    "in-store breakfast regulars": 4,
    "online discount hunters": 30,
    "lapsed one-timers": 300,
    "big-basket home brewers": 45,
}


def planted_customers(rows: int = 1600, seed: int = 7, jitter: float = 0.0) -> pl.DataFrame:
    """`rows` customers split evenly over GROUPS, with a `truth` column naming the group.

    `jitter` nudges every value a little (as a day of new data does) keeping the same customers.
    """
    rng = np.random.default_rng(seed)
    names = list(GROUPS)
    truth = np.repeat(names, rows // len(names))
    n = len(truth)
    orders = np.array([GROUPS[t]["orders"] for t in truth]) * rng.lognormal(0, 0.2, n)
    basket = np.array([GROUPS[t]["basket"] for t in truth]) * rng.lognormal(0, 0.2, n)
    online = np.clip(np.array([GROUPS[t]["online"] for t in truth]) + rng.normal(0, 0.05, n), 0, 1)
    discount = np.clip(
        np.array([GROUPS[t]["discount"] for t in truth]) + rng.normal(0, 0.03, n), 0, 1
    )
    breakfast = np.clip(
        np.array([GROUPS[t]["share_breakfast"] for t in truth]) + rng.normal(0, 0.05, n), 0, 1
    )
    recency = np.array([RECENCY[t] for t in truth]) * rng.lognormal(0, 0.3, n)
    if jitter:
        nudge = np.random.default_rng(seed + 1000)
        orders = orders * nudge.lognormal(0, jitter, n)
        basket = basket * nudge.lognormal(0, jitter, n)
        recency = recency + 1
    orders = np.maximum(1, np.round(orders))
    return pl.DataFrame(
        {
            "customer_key": [f"c{i:05d}" for i in range(n)],
            "as_of_date": [AS_OF] * n,
            "recency_days": np.round(recency),
            "frequency_365d": orders,
            "monetary_365d": orders * basket,
            "avg_order_value": basket,
            "online_share": online,
            "discount_share": discount,
            "share_breakfast": breakfast,
            "truth": truth,
        }
    )


FEATURES = [
    "recency_days",
    "frequency_365d",
    "monetary_365d",
    "avg_order_value",
    "online_share",
    "discount_share",
    "share_breakfast",
]
