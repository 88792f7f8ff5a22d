"""Customer lifetime value: BG/NBD purchase counts and Gamma-Gamma spend, fitted by maximum likelihood.

The log-likelihoods are the closed forms of Fader, Hardie and Lee (2005): BG/NBD in "Counting your
customers the easy way", Gamma-Gamma in "RFM and CLV: using iso-value curves". Parameters are
fitted on their logarithms with bounded L-BFGS-B; identical (frequency, recency, T) rows are
collapsed into weights, so a million customers cost what their distinct histories cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import polars as pl
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1

# Log-parameters are kept inside [-LOG_BOUND, LOG_BOUND]: e^±15 spans any plausible shop.
LOG_BOUND = 15.0
DAYS_PER_MONTH = 365.25 / 12
# Largest gradient of the mean negative log-likelihood (by log-parameter) accepted as a maximum
# when the optimizer stops without declaring convergence.
STATIONARY_GRADIENT = 1e-4


class ModelFitError(RuntimeError):
    """A CLV model could not be fitted; the message names the model, the optimizer and the data."""


def rfm_summary(
    transactions: pl.DataFrame,
    observation_end: date,
    time_unit_days: float = 1.0,
    customer_col: str = "customer_key",
    date_col: str = "order_date",
    amount_col: str = "net_revenue",
) -> pl.DataFrame:
    """Calendar-time summary per customer from purchases on or before `observation_end`.

    Purchases on the same day are one purchase (their amounts added). `frequency` counts repeat
    purchase days, `recency` is the age at the last purchase day, `T` the age at `observation_end`,
    both in `time_unit_days`; `monetary` is the mean amount of the repeat days (0 without one).
    """
    days = (
        transactions.filter(pl.col(date_col) <= observation_end)
        .group_by(customer_col, date_col)
        .agg(pl.col(amount_col).sum().alias("amount"))
    )
    summary = days.group_by(customer_col).agg(
        frequency=(pl.len() - 1).cast(pl.Int64),
        first_purchase=pl.col(date_col).min(),
        last_purchase=pl.col(date_col).max(),
        # each customer's days in date order, so the mean adds the same amounts in the same order
        # on every run; sorting within the customers, not all days at once (at tier L 1.5 s)
        monetary=pl.col("amount").sort_by(date_col).slice(1).mean().fill_null(0.0),
    )
    unit = float(time_unit_days)
    return summary.with_columns(
        recency=(pl.col("last_purchase") - pl.col("first_purchase")).dt.total_days() / unit,
        T=(pl.lit(observation_end) - pl.col("first_purchase")).dt.total_days() / unit,
    ).select(customer_col, "frequency", "recency", "T", "monetary", "first_purchase")


def _describe(**columns: np.ndarray) -> str:
    parts = [f"{len(next(iter(columns.values())))} customers"]
    for name, values in columns.items():
        if len(values):
            parts.append(
                f"{name} min {np.min(values):.4g} mean {np.mean(values):.4g} max {np.max(values):.4g}"
            )
    return "; ".join(parts)


def _fit_log_params(
    model: str,
    negative_log_likelihood,
    start: np.ndarray,
    data_summary: str,
) -> np.ndarray:
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    with np.errstate(all="ignore"):
        result = minimize(
            negative_log_likelihood, start, method="L-BFGS-B", jac=True, bounds=bounds
        )
    params = np.exp(result.x)
    gradient = np.asarray(result.jac, dtype=float)
    # Stationary once the bounds are taken into account: a coordinate at a bound may keep a
    # gradient pointing out of the box. L-BFGS-B can end a flat valley with an ABNORMAL line
    # search although it is there (e.g. a and b of BG/NBD both running to the upper bound).
    blocked = ((result.x >= LOG_BOUND - 1e-6) & (gradient < 0)) | (
        (result.x <= -LOG_BOUND + 1e-6) & (gradient > 0)
    )
    projected_gradient = float(np.max(np.abs(np.where(blocked, 0.0, gradient)), initial=0.0))
    converged = result.success or projected_gradient <= STATIONARY_GRADIENT
    if not converged or not np.all(np.isfinite(params)) or not np.isfinite(result.fun):
        raise ModelFitError(
            f"{model} fit failed: optimizer said '{result.message}' after {result.nit} iterations "
            f"(negative log-likelihood {result.fun}, largest projected gradient "
            f"{projected_gradient:.3g}, parameters {params.tolist()}); data: {data_summary}"
        )
    # A shape parameter running to +infinity is a known limit (no heterogeneity left, e.g. every
    # customer shares one dropout probability); one running to 0 leaves predictions undefined.
    if np.any(result.x <= -LOG_BOUND + 1e-6):
        raise ModelFitError(
            f"{model} fit failed: parameters {params.tolist()} fell to the lower bound "
            f"e^-{LOG_BOUND} (the data cannot identify them); data: {data_summary}"
        )
    return params


def _collapse(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    stacked = np.column_stack(columns)
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return [unique[:, i] for i in range(unique.shape[1])], counts.astype(float)


@dataclass
class BetaGeoModel:
    """BG/NBD: purchases follow a Poisson(lambda) while alive; after each purchase the customer
    drops out with probability p; lambda ~ Gamma(r, alpha), p ~ Beta(a, b)."""

    r_: float = field(default=np.nan)
    alpha_: float = field(default=np.nan)
    a_: float = field(default=np.nan)
    b_: float = field(default=np.nan)

    @property
    def params_(self) -> dict[str, float]:
        return {"r": self.r_, "alpha": self.alpha_, "a": self.a_, "b": self.b_}

    @staticmethod
    def log_likelihood(
        params: np.ndarray, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        """Per-customer log-likelihood (Fader, Hardie and Lee 2005, equation 6)."""
        r, alpha, a, b = params
        x, t_x = frequency, recency
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
        a3 = -(r + x) * np.log(alpha + T)
        repeat = x > 0
        a4 = np.full_like(a3, -np.inf)
        a4[repeat] = (
            np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
        )
        return a1 + a2 + np.logaddexp(a3, a4)

    @staticmethod
    def log_likelihood_gradient(
        params: np.ndarray, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        """Per-customer derivatives of the log-likelihood by (r, alpha, a, b), shape (n, 4)."""
        r, alpha, a, b = params
        x, t_x = frequency, recency
        repeat = x > 0
        a3 = -(r + x) * np.log(alpha + T)
        a4 = np.full_like(a3, -np.inf)
        a4[repeat] = (
            np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
        )
        total = np.logaddexp(a3, a4)
        w3, w4 = np.exp(a3 - total), np.exp(a4 - total)
        safe_b = np.where(repeat, b + x - 1, 1.0)
        d_r = (
            digamma(r + x)
            - digamma(r)
            + np.log(alpha)
            - w3 * np.log(alpha + T)
            - w4 * np.log(alpha + t_x)
        )
        d_alpha = r / alpha - w3 * (r + x) / (alpha + T) - w4 * (r + x) / (alpha + t_x)
        d_a = digamma(a + b) - digamma(a + b + x) + w4 / a
        d_b = digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x) - w4 / safe_b
        return np.column_stack([d_r, d_alpha, d_a, d_b])

    def fit(self, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> BetaGeoModel:
        frequency, recency, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        summary = _describe(frequency=frequency, recency=recency, T=T)
        if len(frequency) == 0:
            raise ModelFitError(f"BG/NBD fit failed: no customers with purchases; data: {summary}")
        if np.any(recency > T) or np.any(frequency < 0) or np.any(recency < 0):
            raise ModelFitError(
                f"BG/NBD fit failed: need 0 <= recency <= T and frequency >= 0; data: {summary}"
            )
        # Time is rescaled so the longest history is 10 units: alpha then starts near 1.
        scale = 10.0 / max(float(T.max()), 1e-9)
        (x, t_x, big_t), weights = _collapse(frequency, recency * scale, T * scale)
        total = weights.sum()

        def negative_log_likelihood(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(log_params)
            ll = self.log_likelihood(params, x, t_x, big_t)
            gradient = weights @ self.log_likelihood_gradient(params, x, t_x, big_t) * params
            return -float(np.dot(weights, ll)) / total, -gradient / total

        params = _fit_log_params("BG/NBD", negative_log_likelihood, np.zeros(4), summary)
        self.r_, alpha_scaled, self.a_, self.b_ = (float(p) for p in params)
        self.alpha_ = alpha_scaled / scale
        return self

    def _check_fitted(self) -> None:
        if not np.isfinite(self.r_):
            raise ModelFitError("BG/NBD model is not fitted: call fit() first")

    def probability_alive(
        self, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        """P(still a customer at T | x, t_x, T); 1 for a customer with no repeat purchase."""
        self._check_fitted()
        x, t_x, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        log_odds = self._log_dropout_odds(x, t_x, T)
        return expit(-log_odds)

    def _log_dropout_odds(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds = (
                np.log(a)
                - np.log(np.maximum(b + x - 1, 1e-300))
                + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
            )
        return np.where(x > 0, log_odds, -np.inf)

    def expected_purchases(
        self, t: float, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        """Expected purchases in the next `t` time units given each customer's history (eq. 10)."""
        self._check_fitted()
        x, t_x, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        if t <= 0:
            return np.zeros_like(x)
        z = t / (alpha + T + t)
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, z)
        numerator = (a + b + x - 1) / (a - 1) * (1 - np.exp((r + x) * np.log1p(-z)) * hyp)
        # 1 + odds computed as exp(logaddexp(0, log_odds)) divides without overflow.
        return numerator * np.exp(-np.logaddexp(0.0, self._log_dropout_odds(x, t_x, T)))


@dataclass
class GammaGammaModel:
    """Gamma-Gamma: a repeat customer's spend per purchase is Gamma(p, nu), nu ~ Gamma(q, gamma)."""

    p_: float = field(default=np.nan)
    q_: float = field(default=np.nan)
    gamma_: float = field(default=np.nan)

    @property
    def params_(self) -> dict[str, float]:
        return {"p": self.p_, "q": self.q_, "gamma": self.gamma_}

    @staticmethod
    def log_likelihood(
        params: np.ndarray, frequency: np.ndarray, monetary: np.ndarray
    ) -> np.ndarray:
        """Per-customer log-likelihood of mean spend `monetary` over `frequency` purchases."""
        p, q, gamma = params
        x, m = frequency, monetary
        return (
            gammaln(p * x + q)
            - gammaln(p * x)
            - gammaln(q)
            + q * np.log(gamma)
            + (p * x - 1) * np.log(m)
            + p * x * np.log(x)
            - (p * x + q) * np.log(gamma + m * x)
        )

    @staticmethod
    def log_likelihood_gradient(
        params: np.ndarray, frequency: np.ndarray, monetary: np.ndarray
    ) -> np.ndarray:
        """Per-customer derivatives of the log-likelihood by (p, q, gamma), shape (n, 3)."""
        p, q, gamma = params
        x, m = frequency, monetary
        d_p = x * (
            digamma(p * x + q) - digamma(p * x) + np.log(m) + np.log(x) - np.log(gamma + m * x)
        )
        d_q = digamma(p * x + q) - digamma(q) + np.log(gamma) - np.log(gamma + m * x)
        d_gamma = q / gamma - (p * x + q) / (gamma + m * x)
        return np.column_stack([d_p, d_q, d_gamma])

    def fit(self, frequency: np.ndarray, monetary: np.ndarray) -> GammaGammaModel:
        """Fit on repeat customers only: frequency > 0 and monetary > 0."""
        frequency, monetary = (np.asarray(v, dtype=float) for v in (frequency, monetary))
        summary = _describe(frequency=frequency, monetary=monetary)
        if len(frequency) < 2 or np.any(frequency <= 0) or np.any(monetary <= 0):
            raise ModelFitError(
                "Gamma-Gamma fit failed: needs at least 2 repeat customers, all with frequency > 0 "
                f"and monetary > 0; data: {summary}"
            )
        # Spend is rescaled to a mean of 10 so gamma starts near 1 whatever the currency.
        scale = 10.0 / float(np.mean(monetary))
        (x, m), weights = _collapse(frequency, monetary * scale)
        total = weights.sum()

        def negative_log_likelihood(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(log_params)
            ll = self.log_likelihood(params, x, m)
            gradient = weights @ self.log_likelihood_gradient(params, x, m) * params
            return -float(np.dot(weights, ll)) / total, -gradient / total

        params = _fit_log_params("Gamma-Gamma", negative_log_likelihood, np.zeros(3), summary)
        self.p_, self.q_, gamma_scaled = (float(v) for v in params)
        self.gamma_ = gamma_scaled / scale
        return self

    def expected_spend(self, frequency: np.ndarray, monetary: np.ndarray) -> np.ndarray:
        """Expected spend per purchase; a customer without repeat purchases gets the population mean."""
        if not np.isfinite(self.p_):
            raise ModelFitError("Gamma-Gamma model is not fitted: call fit() first")
        if self.q_ <= 1:
            raise ModelFitError(
                f"Gamma-Gamma q = {self.q_:.4g} <= 1: the mean spend is infinite, CLV undefined"
            )
        x, m = (np.asarray(v, dtype=float) for v in (frequency, monetary))
        p, q, gamma = self.p_, self.q_, self.gamma_
        population_mean = p * gamma / (q - 1)
        conditional = p * (gamma + m * x) / (p * x + q - 1)
        return np.where((x > 0) & (m > 0), conditional, population_mean)


def discounted_clv(
    purchases: BetaGeoModel,
    spend: GammaGammaModel,
    summary: pl.DataFrame,
    months: int,
    monthly_discount_rate: float,
    time_unit_days: float = 1.0,
) -> np.ndarray:
    """Sum over months of (expected purchases that month x expected spend) / (1 + d)^month."""
    x, t_x, T = (summary[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    spend_per_purchase = spend.expected_spend(x, summary["monetary"].to_numpy().astype(float))
    month = DAYS_PER_MONTH / time_unit_days
    value = np.zeros_like(x)
    previous = np.zeros_like(x)
    for i in range(1, months + 1):
        cumulative = purchases.expected_purchases(month * i, x, t_x, T)
        value += (cumulative - previous) * spend_per_purchase / (1 + monthly_discount_rate) ** i
        previous = cumulative
    return value


def value_tiers(clv: pl.Series, tiers: dict[str, float], rest_label: str) -> pl.Series:
    """Label by rank: the top share of CLV gets the first tier, the next share the second, ...

    A customer's place is the share of customers whose CLV is at least theirs, so equal CLVs
    always get the same tier (customers with the same purchase history have the same CLV, and
    a tier boundary can fall inside such a group): the group goes to the lower tier, and a
    tier holds at most its share. Ranking ties by row order instead moved hundreds of
    customers between tiers, and segments, from one run to the next on the same data."""
    share_from_top = (len(clv) - clv.rank("min", descending=False) + 1) / max(len(clv), 1)
    label = pl.lit(rest_label)
    upper = 0.0
    bounds = []
    for name, share in tiers.items():
        bounds.append((name, upper + share))
        upper += share
    frame = pl.DataFrame({"share": share_from_top})
    for name, bound in reversed(bounds):
        label = pl.when(pl.col("share") <= bound + 1e-12).then(pl.lit(name)).otherwise(label)
    return frame.select(label.alias(clv.name or "value_tier")).to_series()


def purchase_summary(orders: pl.DataFrame, as_of_date: date) -> pl.DataFrame:
    """`rfm_summary` of the purchases (not returns, with a customer) in `marts.orders`-shaped
    rows dated before `as_of_date`."""
    purchases_before = orders.filter(
        pl.col("customer_key").is_not_null() & ~pl.col("is_return").fill_null(False)
    ).select("customer_key", pl.col("order_date").cast(pl.Date), "net_revenue")
    return rfm_summary(purchases_before, as_of_date - timedelta(days=1))


def repeat_customers(summary: pl.DataFrame) -> pl.DataFrame:
    """The summary rows Gamma-Gamma is fitted on: a repeat purchase with a positive amount."""
    return summary.filter((pl.col("frequency") > 0) & (pl.col("monetary") > 0))


def clv_predictions(
    orders: pl.DataFrame,
    as_of_date: date,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    tiers: dict[str, float] | None = None,
    rest_label: str = "Low",
) -> tuple[pl.DataFrame, BetaGeoModel, GammaGammaModel]:
    """Per-customer predictions as of `as_of_date` from `marts.orders`-shaped rows before that day.

    Returns (customer_key, expected_purchases_90d, expected_purchases_365d, p_alive, clv_12m,
    value_tier, first_purchase) and the fitted models.
    """
    summary = purchase_summary(orders, as_of_date)
    return clv_from_summary(summary, months, monthly_discount_rate, tiers, rest_label)


@dataclass
class ClvModel:
    """The two fitted models behind `clv_12m` and the as-of date they were fitted for: saved on a
    refit day, they predict the days in between from each day's own purchase summary."""

    bgnbd: BetaGeoModel
    gamma_gamma: GammaGammaModel
    fitted_as_of: date

    @property
    def parameters(self) -> dict[str, float]:
        return {
            **{f"bgnbd_{k}": v for k, v in self.bgnbd.params_.items()},
            **{f"gamma_gamma_{k}": v for k, v in self.gamma_gamma.params_.items()},
        }


def clv_from_summary(
    summary: pl.DataFrame,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    tiers: dict[str, float] | None = None,
    rest_label: str = "Low",
    fitted: tuple[BetaGeoModel, GammaGammaModel] | None = None,
) -> tuple[pl.DataFrame, BetaGeoModel, GammaGammaModel]:
    """`clv_predictions` from a `purchase_summary` the caller has already made; with `fitted`
    (BG/NBD, Gamma-Gamma) the summary is only predicted, not fitted on."""
    x, t_x, T = (summary[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    if fitted is None:
        bgnbd = BetaGeoModel().fit(x, t_x, T)
        repeat = repeat_customers(summary)
        gamma_gamma = GammaGammaModel().fit(
            repeat["frequency"].to_numpy(), repeat["monetary"].to_numpy()
        )
    else:
        bgnbd, gamma_gamma = fitted
    clv = discounted_clv(bgnbd, gamma_gamma, summary, months, monthly_discount_rate)
    result = summary.select("customer_key", "first_purchase").with_columns(
        expected_purchases_90d=pl.Series(bgnbd.expected_purchases(90, x, t_x, T)),
        expected_purchases_365d=pl.Series(bgnbd.expected_purchases(365, x, t_x, T)),
        p_alive=pl.Series(bgnbd.probability_alive(x, t_x, T)),
        clv_12m=pl.Series(clv),
    )
    numeric = ["expected_purchases_90d", "expected_purchases_365d", "p_alive", "clv_12m"]
    broken = result.filter(pl.any_horizontal(~pl.col(numeric).is_finite()))
    if broken.height:
        raise ModelFitError(
            f"CLV predictions are not finite for {broken.height} customers (first: "
            f"{broken.row(0, named=True)}) with BG/NBD {bgnbd.params_} and Gamma-Gamma "
            f"{gamma_gamma.params_}"
        )
    result = result.with_columns(
        value_tier=value_tiers(
            result["clv_12m"].alias("value_tier"), tiers or {"High": 0.2, "Medium": 0.3}, rest_label
        )
    )
    return result, bgnbd, gamma_gamma
