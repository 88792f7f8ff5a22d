"""The planted personas and the behaviour each one drives in the CRM, the tills and the webshop.

Every table is indexed by persona (the order of `PERSONAS`). Rates are per customer per week.
"""

from __future__ import annotations

import numpy as np

PERSONAS = (
    "office_regular",
    "family_shopper",
    "bargain_hunter",
    "loyalist",
    "newcomer",
    "churner",
    "cart_abandoner",
)
PERSONA_SHARE = np.array([0.20, 0.16, 0.14, 0.10, 0.12, 0.14, 0.14])

# catalogue order (pipelines/config/catalog.yaml)
CATEGORIES = (
    "coffee",
    "tea",
    "pastry",
    "breakfast",
    "lunch",
    "beans",
    "equipment",
    "merch",
    "gift_card",
)
# (number of skus, cheapest, dearest) per category, in EUR
CATEGORY_PRICES = {
    "coffee": (12, 2.2, 4.8),
    "tea": (8, 2.0, 12.0),
    "pastry": (15, 1.8, 4.5),
    "breakfast": (10, 4.5, 11.0),
    "lunch": (14, 5.5, 12.5),
    "beans": (18, 8.0, 32.0),
    "equipment": (12, 18.0, 420.0),
    "merch": (10, 6.0, 35.0),
    "gift_card": (4, 10.0, 100.0),
}

ORDERS_PER_WEEK = np.array([0.12, 0.05, 0.04, 0.10, 0.10, 0.05, 0.005])
ONLINE_SHARE = np.array([0.03, 0.12, 0.85, 0.30, 0.30, 0.25, 0.60])
DISCOUNT_ORDER_SHARE = np.array([0.03, 0.08, 0.75, 0.04, 0.25, 0.08, 0.15])
EXTRA_LINES = np.array([0.22, 1.2, 0.75, 1.1, 0.45, 0.7, 0.3])
# log-mean of the per-customer basket multiplier: loyalists buy bigger baskets
BASKET_LOG_MEAN = np.array([0.0, 0.1, -0.1, 0.5, -0.1, 0.0, -0.2])
RETURN_LINE_SHARE = np.array([0.005, 0.015, 0.06, 0.01, 0.01, 0.02, 0.03])

# Monday .. Sunday, scaled so the busiest day is 1
WEEKDAY_WEIGHT = np.array(
    [
        [1.0, 1.0, 1.0, 1.0, 0.9, 0.03, 0.02],
        [0.15, 0.15, 0.15, 0.2, 0.35, 1.0, 1.0],
        [0.8, 0.8, 0.8, 0.9, 1.0, 0.9, 0.9],
        [0.9, 0.9, 0.9, 0.9, 1.0, 1.0, 0.8],
        [0.8, 0.8, 0.8, 0.9, 1.0, 1.0, 0.9],
        [0.8, 0.8, 0.8, 0.9, 1.0, 1.0, 0.9],
        [0.8, 0.8, 0.8, 0.9, 1.0, 1.0, 0.9],
    ]
)
# mean and spread of the hour of day, in store and online
IN_STORE_HOUR = np.array(
    [[8.2, 0.7], [11.5, 1.8], [13.0, 3.0], [10.0, 2.5], [12.0, 3.0], [11.0, 3.0], [13.0, 3.0]]
)
ONLINE_HOUR = np.array(
    [[20.0, 2.0], [20.5, 1.5], [21.0, 2.0], [19.0, 3.0], [20.0, 2.5], [20.0, 2.5], [21.5, 1.5]]
)

# category mix per persona, in store and online (coffee drinks and meals are not sold online)
IN_STORE_MIX = np.array(
    [
        [6.0, 0.8, 1.5, 5.0, 2.0, 0.1, 0.0, 0.02, 0.02],
        [1.5, 1.5, 5.0, 1.0, 3.5, 0.2, 0.0, 0.5, 0.3],
        [2.0, 1.0, 2.0, 1.0, 1.0, 0.5, 0.0, 0.3, 0.1],
        [3.0, 0.5, 1.0, 1.0, 1.0, 3.0, 0.0, 0.4, 0.4],
        [3.0, 1.5, 2.0, 1.0, 2.0, 0.3, 0.0, 0.2, 0.2],
        [3.0, 1.0, 2.0, 2.0, 2.0, 0.5, 0.0, 0.2, 0.2],
        [2.0, 1.0, 2.0, 1.0, 1.0, 0.3, 0.0, 0.2, 0.2],
    ]
)
ONLINE_MIX = np.array(
    [
        [0, 0.5, 0, 0, 0, 2.0, 0.2, 0.5, 0.5],
        [0, 1.0, 0, 0, 0, 1.0, 0.3, 2.0, 2.0],
        [0, 1.0, 0, 0, 0, 2.0, 1.5, 2.0, 0.2],
        [0, 0.3, 0, 0, 0, 5.0, 2.0, 0.3, 0.3],
        [0, 1.0, 0, 0, 0, 2.0, 0.5, 1.0, 0.5],
        [0, 1.0, 0, 0, 0, 2.0, 0.5, 0.5, 0.5],
        [0, 1.0, 0, 0, 0, 1.0, 1.5, 1.0, 0.2],
    ]
)

# web sessions without a purchase, per week; and what happens in them
BROWSE_SESSIONS_PER_WEEK = np.array([0.004, 0.009, 0.06, 0.019, 0.045, 0.019, 0.135])
ITEM_VIEWS_PER_SESSION = np.array([1.0, 1.5, 3.0, 2.0, 2.0, 1.5, 3.5])
ADD_TO_CART_SHARE = np.array([0.1, 0.15, 0.3, 0.25, 0.2, 0.2, 0.7])
LOGIN_SHARE = np.array([0.3, 0.3, 0.5, 0.7, 0.3, 0.4, 0.2])

HAS_CONTACT = np.array([0.85, 0.80, 0.95, 1.0, 0.85, 0.90, 0.85])
HAS_LOYALTY_CARD = np.array([0.80, 0.50, 0.15, 0.95, 0.40, 0.60, 0.20])
TICKETS_PER_YEAR = np.array([0.1, 0.2, 0.9, 0.4, 0.3, 1.0, 0.2])
SATISFACTION_MEAN = np.array([4.2, 4.0, 3.3, 4.5, 4.0, 2.2, 3.8])
EMAIL_OPEN_SHARE = np.array([0.25, 0.35, 0.55, 0.65, 0.45, 0.30, 0.40])


def seasonality(day_of_year: np.ndarray) -> np.ndarray:
    """Yearly demand, scaled to at most 1: a winter peak and a December gift bump."""
    winter = 1.0 + 0.18 * np.cos(2 * np.pi * (day_of_year - 15) / 365.25)
    december = 0.25 * np.exp(-(((day_of_year - 350) / 10.0) ** 2))
    return (winter + december) / 1.43
