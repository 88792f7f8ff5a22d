"""ML segments: a scikit-learn-style customer clusterer with profiles, names and rules.

`CustomerClusterer` takes Polars frames with the columns of `marts.customer_features` (plus
`share_<category>` columns from `clustering_frame`), log-transforms skewed columns, scales them
robustly, picks k by silhouette and resampling stability, and explains every cluster with a
profile, a short human name and rules a person can read. Fitted models are saved and loaded
with their version, so customers who appear later are assigned without refitting; every save is
a new version, so a second fit on the same day does not overwrite the first.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.tree import DecisionTreeClassifier

from pipelines.model_store import claim_version, latest_model, load_model, write_model
from pipelines.refit import config_hash
from pipelines.segmentation.config import load_clustering_config
from pipelines.segmentation.stability import match_centroids

MODEL_PREFIX = "customer-clusterer-"

# How a feature reads in a segment name when the segment is above / below the overall mean.
# Adjectives come first in the name, in the order of ADJECTIVE_ORDER; a noun ends the name.
ADJECTIVES: dict[str, tuple[str | None, str | None]] = {
    "recency_days": ("lapsed", "recent"),
    "frequency": ("frequent", "occasional"),
    "frequency_90d": ("frequent", "occasional"),
    "frequency_365d": ("frequent", "occasional"),
    "monetary": ("big-spending", "low-spending"),
    "monetary_90d": ("big-spending", "low-spending"),
    "monetary_365d": ("big-spending", "low-spending"),
    "avg_order_value": ("big-basket", "small-basket"),
    "weekend_order_share": ("weekend", "weekday"),
    # few morning orders is no one time of day (afternoon in store, evening online): no word
    "morning_order_share": ("morning", None),
    "web_sessions_30d": ("web-savvy", None),
    "web_sessions_90d": ("web-savvy", None),
    "online_share": ("online", "in-store"),
}
ADJECTIVE_ORDER = list(ADJECTIVES)
NOUNS: dict[str, str] = {
    "discount_share": "discount hunters",
    "return_rate": "returners",
    "support_tickets_365d": "support seekers",
    "email_clicks_90d": "newsletter readers",
    "cart_abandonments_30d": "cart abandoners",
}


def wide_category_shares(category_shares: pl.DataFrame) -> pl.DataFrame:
    """Long `customer_key, category_code, share` -> one row per customer, `share_<code>` columns."""
    return category_shares.pivot(
        on="category_code", index="customer_key", values="share", aggregate_function="sum"
    ).rename(lambda c: c if c == "customer_key" else f"share_{c}")


def clustering_frame(
    features: pl.DataFrame, category_shares: pl.DataFrame | None, feature_names: list[str]
) -> pl.DataFrame:
    """Features joined with the category shares the clustering asks for (0 where no spend).

    In customer order: the fit samples rows by position, and neither the warehouse (a query
    without `order by`) nor a join keeps one order, so unsorted the same customers were put in 4,
    5 or 7 groups from one run to the next at tier L (docs/performance.md).
    """
    frame = features
    wanted = [f for f in feature_names if f.startswith("share_") and f not in features.columns]
    if wanted and category_shares is not None:
        frame = frame.join(wide_category_shares(category_shares), on="customer_key", how="left")
    return frame.with_columns(
        [pl.col(f).fill_null(0.0) if f in frame.columns else pl.lit(0.0).alias(f) for f in wanted]
    ).sort("customer_key")


class FlooredRobustScaler:
    """Robust scaling with a floor: (x - median) / max(IQR, `min_share_of_range` x range).

    Plain robust scaling divides by the interquartile range. A column that is zero for most
    customers (the discount share) has a tiny one, so its few non-zero values end up many units
    away and that one column decides the groups alone. The floor caps how far any column can
    spread: no column spans more than 1 / `min_share_of_range` scaled units. 0 turns it off
    (plain robust scaling). A column with neither spread keeps scale 1.
    """

    def __init__(self, min_share_of_range: float = 0.25) -> None:
        self.min_share_of_range = min_share_of_range

    def fit(self, values: np.ndarray) -> FlooredRobustScaler:
        low, self.center_, high = np.percentile(values, [25, 50, 75], axis=0)
        spread = values.max(axis=0) - values.min(axis=0)
        scale = np.maximum(high - low, self.min_share_of_range * spread)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.center_) / self.scale_

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        return values * self.scale_ + self.center_


class _KeptCdfRandomState(np.random.RandomState):
    """`np.random.RandomState(seed)` whose weighted draws reuse the cumulative weights.

    scikit-learn 1.9's `MiniBatchKMeans.fit` draws each minibatch with
    `random_state.choice(n, batch, p=weights)`, passing the same weights every step. numpy checks
    and sums them up again on each call: a pass over every customer per step, for hundreds of
    steps, most of a refit's time at a million customers (docs/performance.md). This keeps the
    cumulative sum of the last weights seen and draws as numpy does
    (`cdf.searchsorted(random_sample(size), side="right")`), so a fit gives the same centres,
    number for number. Any other call is numpy's own. The weights must not change between
    calls; scikit-learn never writes to them.
    """

    _weights: np.ndarray | None = None
    _cdf: np.ndarray | None = None

    def choice(self, a, size=None, replace=True, p=None):  # type: ignore[override]
        if p is None or not replace or size is None or not isinstance(a, int | np.integer):
            return super().choice(a, size, replace, p)
        if p is not self._weights:
            super().choice(a, 0, replace, p)  # numpy's checks of the weights; draws nothing
            cdf = np.asarray(p, dtype=np.float64).cumsum()
            cdf /= cdf[-1]
            self._weights, self._cdf = p, cdf
        assert self._cdf is not None
        return self._cdf.searchsorted(self.random_sample(size), side="right")


def _fitted(model: KMeans | MiniBatchKMeans, matrix: np.ndarray) -> KMeans | MiniBatchKMeans:
    """`model.fit(matrix)` with the stream of its integer `random_state` (`_KeptCdfRandomState`),
    which it keeps: the saved model shows the seed, not a generator."""
    seed = model.random_state
    try:
        model.set_params(random_state=_KeptCdfRandomState(seed)).fit(matrix)
    finally:
        model.set_params(random_state=seed)
    return model


class CustomerClusterer:
    """Groups customers on configured features; scikit-learn conventions (fit/predict/transform,
    learned state in attributes ending in `_`). `predict` returns stable public cluster ids."""

    def __init__(
        self,
        features: list[str],
        log_features: list[str] | tuple[str, ...] = (),
        min_scale_share_of_range: float = 0.25,
        k_min: int = 3,
        k_max: int = 10,
        n_clusters: int | None = None,
        silhouette_sample_size: int = 2000,
        stability_bootstraps: int = 3,
        stability_sample_share: float = 0.8,
        min_stability_ari: float = 0.8,
        minibatch_above_customers: int = 20000,
        n_init: int = 4,
        random_state: int = 0,
        rule_tree_max_depth: int = 3,
        min_name_difference: float = 0.5,
        max_match_distance: float = 1.0,
        keep_k_within_silhouette: float = 0.03,
        preference_names: dict[str, str] | None = None,
        config_fingerprint: str | None = None,
    ) -> None:
        self.features = features
        self.log_features = log_features
        self.min_scale_share_of_range = min_scale_share_of_range
        self.k_min = k_min
        self.k_max = k_max
        self.n_clusters = n_clusters
        self.silhouette_sample_size = silhouette_sample_size
        self.stability_bootstraps = stability_bootstraps
        self.stability_sample_share = stability_sample_share
        self.min_stability_ari = min_stability_ari
        self.minibatch_above_customers = minibatch_above_customers
        self.n_init = n_init
        self.random_state = random_state
        self.rule_tree_max_depth = rule_tree_max_depth
        self.min_name_difference = min_name_difference
        self.max_match_distance = max_match_distance
        self.keep_k_within_silhouette = keep_k_within_silhouette
        self.preference_names = preference_names
        self.config_fingerprint = config_fingerprint

    @classmethod
    def from_config(
        cls, config: dict[str, Any] | None = None, preference_names: dict[str, str] | None = None
    ) -> CustomerClusterer:
        """A clusterer set up from `clustering.yaml` (defaults when no config is given)."""
        config = config if config is not None else load_clustering_config()
        skip = {"allow_sensitive_features", "refit_every_days"}
        params = {k: v for k, v in config.items() if k not in skip}
        return cls(
            **params, preference_names=preference_names, config_fingerprint=config_hash(config)
        )

    # ---------- preparing the matrix

    def _raw(self, frame: pl.DataFrame) -> np.ndarray:
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise ValueError(
                f"customer features: columns {missing} expected for clustering, "
                f"found only {sorted(frame.columns)}"
            )
        values = frame.select([pl.col(f).cast(pl.Float64) for f in self.features]).to_numpy()
        return values

    def _impute(self, values: np.ndarray) -> np.ndarray:
        filled = values.copy()
        for column, fill in enumerate(self.fill_values_):
            filled[np.isnan(filled[:, column]), column] = fill
        return filled

    def _logged(self, filled: np.ndarray) -> np.ndarray:
        logged = filled.copy()
        for column, feature in enumerate(self.features):
            if feature in self.log_features:
                # Returns can make money negative; log1p needs values above -1.
                logged[:, column] = np.log1p(np.clip(logged[:, column], 0, None))
        return logged

    def transform(self, frame: pl.DataFrame) -> np.ndarray:
        """The scaled matrix the clusters live in (nulls filled with the fit's medians)."""
        return self.scaler_.transform(self._logged(self._impute(self._raw(frame))))

    # ---------- fitting

    def _fit_kmeans(
        self, k: int, matrix: np.ndarray, seed: int, **params: Any
    ) -> KMeans | MiniBatchKMeans:
        """k-means with k groups fitted on `matrix`: MiniBatchKMeans above
        `minibatch_above_customers` rows, KMeans below; `params` override the defaults."""
        model_class = MiniBatchKMeans if len(matrix) > self.minibatch_above_customers else KMeans
        options: dict[str, Any] = {"n_init": self.n_init, **params}
        return _fitted(model_class(n_clusters=k, random_state=seed, **options), matrix)

    def _choose_k(
        self, matrix: np.ndarray, sample: np.ndarray, rng: np.random.Generator
    ) -> tuple[dict[int, dict], dict[int, KMeans | MiniBatchKMeans]]:
        """Silhouette and stability per k, and the model fitted for each k on all rows."""
        scores: dict[int, dict] = {}
        models: dict[int, KMeans | MiniBatchKMeans] = {}
        for k in range(self.k_min, min(self.k_max, len(sample) - 1) + 1):
            model = models[k] = self._fit_kmeans(k, matrix, self.random_state)
            labels = model.predict(matrix[sample])
            if len(set(labels)) < 2:
                continue
            silhouette = float(silhouette_score(matrix[sample], labels))
            agreements = []
            for b in range(self.stability_bootstraps):
                size = max(k + 1, int(self.stability_sample_share * len(sample)))
                subset = rng.choice(sample, size=size, replace=False)
                refit = self._fit_kmeans(k, matrix[subset], self.random_state + b + 1)
                agreements.append(adjusted_rand_score(labels, refit.predict(matrix[sample])))
            scores[k] = {"silhouette": silhouette, "stability": float(np.mean(agreements))}
        return scores, models

    def fit(
        self,
        frame: pl.DataFrame,
        as_of_date: date | None = None,
        previous: CustomerClusterer | None = None,
    ) -> CustomerClusterer:
        """Fit on one row per customer. With `previous`, clusters whose centres barely moved keep
        the previous model's ids and names."""
        raw = self._raw(frame)
        if len(raw) < max(self.k_min, 2) + 1:
            raise ValueError(
                f"customer features: at least {self.k_min + 1} customers expected to cluster, "
                f"found {len(raw)}"
            )
        medians = np.nanmedian(raw, axis=0)
        self.fill_values_ = np.where(np.isnan(medians), 0.0, medians)
        logged = self._logged(self._impute(raw))
        self.scaler_ = FlooredRobustScaler(self.min_scale_share_of_range).fit(logged)
        matrix = self.scaler_.transform(logged)
        rng = np.random.default_rng(self.random_state)
        same_features = previous is not None and list(previous.features) == list(self.features)
        self.previous_k_check_: dict[str, Any] | None = None
        model = None
        # the model `_choose_k` fitted for each k: the same fit the chosen k would make again
        fitted_by_k: dict[int, KMeans | MiniBatchKMeans] = {}
        if self.n_clusters is not None:
            self.k_scores_ = {}
            k = self.n_clusters
        else:
            n_rows = len(matrix)
            sample = rng.choice(
                n_rows, size=min(n_rows, self.silhouette_sample_size), replace=False
            )
            self.k_scores_, fitted_by_k = self._choose_k(matrix, sample, rng)
            k = _best_k(self.k_scores_, self.min_stability_ari, fallback=self.k_min)
            if same_features and k in self.k_scores_ and previous.n_clusters_ < len(sample):
                # A refit: does the previous grouping still hold on this data? k-means started
                # from the previous centres finds it when it does. A fresh k-means can land in
                # another local optimum, with another k or with the same one, and regroup
                # customers who barely changed.
                model, self.previous_k_check_ = self._previous_grouping(
                    frame, matrix, sample, previous, best=k
                )
                if self.previous_k_check_["kept"]:
                    k = previous.n_clusters_
                else:
                    model = None
                    k = _best_k(
                        self.k_scores_,
                        self.min_stability_ari,
                        fallback=self.k_min,
                        previous_k=previous.n_clusters_,
                        tolerance=self.keep_k_within_silhouette,
                    )
        if model is None:
            model = fitted_by_k.get(k)
        if model is None:
            model = self._fit_kmeans(k, matrix, self.random_state)
        self.model_ = model
        self.n_clusters_ = k
        internal = self.model_.predict(matrix)
        self._assign_ids(internal, previous)
        labels = self.cluster_ids_[internal]
        self._describe(frame, self._impute(raw), matrix, labels)
        fit_date = as_of_date or _as_of(frame) or date.today()
        digest = self.config_fingerprint or config_hash(self.get_params())
        self.meta_ = {
            "model_version": f"{fit_date.isoformat()}-{digest}-k{k}",
            "fit_date": fit_date.isoformat(),
            "features": list(self.features),
            "config_hash": digest,
            "n_clusters": k,
            "customers": len(raw),
            "clusters": {str(i): self.cluster_names_[i] for i in sorted(self.cluster_names_)},
            "rule_accuracy": self.rule_accuracy_,
            "previous_version": previous.meta_["model_version"] if previous is not None else None,
            "previous_k_check": self.previous_k_check_,
        }
        return self

    def _previous_grouping(
        self,
        frame: pl.DataFrame,
        matrix: np.ndarray,
        sample: np.ndarray,
        previous: CustomerClusterer,
        best: int,
    ) -> tuple[KMeans | MiniBatchKMeans, dict[str, Any]]:
        """k-means with the previous k started from the previous model's centres, and whether
        to keep it instead of the best fresh k.

        It is kept when it still groups today's customers as the previous model assigns them
        (adjusted Rand index >= `min_stability_ari`: the grouping came back on new data, which is
        the stability the rule asks of a new k) and separates them within
        `keep_k_within_silhouette` as well as the best k (silhouette, or silhouette x stability
        when no k is stable). A fresh k-means at the previous k can land in another local optimum
        on one more week of data, score badly on silhouette or resampling, and change k although
        the customers barely changed (docs/segments.md).
        """
        centres = self.scaler_.transform(
            previous.scaler_.inverse_transform(previous.model_.cluster_centers_)
        )
        k = previous.n_clusters_
        model = self._fit_kmeans(k, matrix, self.random_state, init=centres, n_init=1)
        labels = model.predict(matrix)
        check: dict[str, Any] = {"previous_k": k, "best_k": best, "kept": False}
        if len(set(labels[sample].tolist())) < 2:
            return model, check
        silhouette = float(silhouette_score(matrix[sample], labels[sample]))
        agreement = float(
            adjusted_rand_score(previous.model_.predict(previous.transform(frame)), labels)
        )
        best_scores = self.k_scores_[best]
        if best_scores["stability"] >= self.min_stability_ari:
            score, best_score = silhouette, best_scores["silhouette"]
        else:
            score = silhouette * agreement
            best_score = best_scores["silhouette"] * best_scores["stability"]
        kept = (
            agreement >= self.min_stability_ari
            and score >= best_score - self.keep_k_within_silhouette
        )
        check |= {
            "silhouette": silhouette,
            "agreement_with_previous": agreement,
            "best_silhouette": best_scores["silhouette"],
            "kept": kept,
        }
        return model, check

    def _assign_ids(self, internal: np.ndarray, previous: CustomerClusterer | None) -> None:
        # Fresh ids go by size (largest cluster is 0) so the same data gives the same ids.
        sizes = np.bincount(internal, minlength=self.n_clusters_)
        by_size = list(np.argsort(-sizes, kind="stable"))
        ids = np.full(self.n_clusters_, -1, dtype=int)
        inherited: dict[int, str] = {}
        if previous is not None and list(previous.features) == list(self.features):
            previous_centres = previous.scaler_.inverse_transform(previous.model_.cluster_centers_)
            pairs = match_centroids(
                self.model_.cluster_centers_,
                self.scaler_.transform(previous_centres),
                self.max_match_distance,
            )
            for new_row, previous_row in pairs.items():
                ids[new_row] = previous.cluster_ids_[previous_row]
                inherited[int(ids[new_row])] = previous.cluster_names_[ids[new_row]]
        next_id = (
            max([*inherited, *(previous.cluster_ids_ if previous is not None else [])], default=-1)
            + 1
        )
        for row in by_size:
            if ids[row] < 0:
                ids[row] = next_id
                next_id += 1
        self.cluster_ids_ = ids
        self._inherited_names = inherited

    # ---------- describing

    def _describe(
        self, frame: pl.DataFrame, filled: np.ndarray, matrix: np.ndarray, labels: np.ndarray
    ) -> None:
        overall_scaled = matrix.mean(axis=0)
        overall_raw = filled.mean(axis=0)
        rows = []
        differences: dict[int, np.ndarray] = {}
        for cluster_id in sorted(set(labels.tolist())):
            members = labels == cluster_id
            differences[cluster_id] = matrix[members].mean(axis=0) - overall_scaled
            rows.append(
                {
                    "cluster_id": cluster_id,
                    "customers": int(members.sum()),
                    "share": float(members.mean()),
                    "feature_means": {
                        f: float(v)
                        for f, v in zip(self.features, filled[members].mean(axis=0), strict=True)
                    },
                    "overall_means": {
                        f: float(v) for f, v in zip(self.features, overall_raw, strict=True)
                    },
                    "scaled_differences": {
                        f: float(v)
                        for f, v in zip(self.features, differences[cluster_id], strict=True)
                    },
                }
            )
        self.cluster_names_ = self._names(differences)
        self.rules_, explained = self._rules(filled, labels)
        self.rule_accuracy_ = float((explained == labels).mean())
        for row in rows:
            members = labels == row["cluster_id"]
            row["cluster_name"] = self.cluster_names_[row["cluster_id"]]
            row["rules"] = self.rules_.get(
                row["cluster_id"], "no rule: the group is too small for the rule tree"
            )
            row["rule_recall"] = float((explained[members] == row["cluster_id"]).mean())
            row["description"] = _description(row)
        self.profiles_ = rows

    def _words(self, difference: np.ndarray) -> tuple[list[str], list[str]]:
        adjectives: list[tuple[float, int, str]] = []
        nouns: list[tuple[float, str]] = []
        for feature, value in zip(self.features, difference, strict=True):
            if abs(value) < self.min_name_difference:
                continue
            if feature in ADJECTIVES:
                word = ADJECTIVES[feature][0 if value > 0 else 1]
                if word:
                    adjectives.append((abs(value), ADJECTIVE_ORDER.index(feature), word))
            elif value > 0 and feature in NOUNS:
                nouns.append((value, NOUNS[feature]))
            elif value > 0 and feature.startswith("share_"):
                code = feature.removeprefix("share_")
                name = (self.preference_names or {}).get(code, f"{code} buyers")
                nouns.append((value, name.lower()))
            elif feature.startswith("share_"):
                # buying little of one category says little about a group: no word for it
                continue
            elif feature not in ADJECTIVES:
                direction = "high" if value > 0 else "low"
                adjectives.append(
                    (abs(value), len(ADJECTIVE_ORDER), f"{direction} {feature.replace('_', ' ')}")
                )
        adjectives.sort(key=lambda a: -a[0])
        ordered_nouns = [n for _, n in sorted(nouns, key=lambda n: -n[0])]
        # Two features can share a word (frequency and frequency_90d): keep it once.
        words = list(dict.fromkeys(w for _, _, w in adjectives))
        return words, list(dict.fromkeys(ordered_nouns))

    def _names(self, differences: dict[int, np.ndarray]) -> dict[int, str]:
        names: dict[int, str] = dict(self._inherited_names)
        # Most distinctive clusters pick their names first.
        order = sorted(
            (c for c in differences if c not in names), key=lambda c: -np.abs(differences[c]).sum()
        )
        for cluster_id in order:
            adjectives, nouns = self._words(differences[cluster_id])
            noun = nouns[0] if nouns else "customers"
            candidates = []
            for count in (2, 1, 3, len(adjectives)):
                chosen = adjectives[:count]
                chosen.sort(key=lambda w: _adjective_rank(w))
                candidates.append(" ".join([*chosen, noun]))
            if len(nouns) > 1:
                candidates.append(" ".join([*adjectives[:2], nouns[0], "and", nouns[1]]))
            if not adjectives and not nouns:
                candidates.insert(0, "typical customers")
            name = next((c for c in candidates if c.capitalize() not in names.values()), None)
            if name is None:
                name = f"{candidates[0]} (group {cluster_id})"
            names[cluster_id] = name.capitalize()
        return names

    def _rules(self, filled: np.ndarray, labels: np.ndarray) -> tuple[dict[int, str], np.ndarray]:
        """Readable rules per cluster and the cluster the rules place each customer in."""
        tree = DecisionTreeClassifier(
            max_depth=self.rule_tree_max_depth,
            min_samples_leaf=max(5, len(labels) // 100),
            random_state=self.random_state,
        ).fit(filled, labels)
        structure = tree.tree_
        paths: dict[int, list[str]] = {}

        def walk(node: int, conditions: list[tuple[str, str, float]]) -> None:
            if structure.children_left[node] == -1:
                cluster_id = int(tree.classes_[np.argmax(structure.value[node][0])])
                paths.setdefault(cluster_id, []).append(_condition_text(conditions))
                return
            feature = self.features[structure.feature[node]]
            threshold = float(structure.threshold[node])
            walk(structure.children_left[node], [*conditions, (feature, "<=", threshold)])
            walk(structure.children_right[node], [*conditions, (feature, ">", threshold)])

        walk(0, [])
        rules = {
            c: " or ".join(f"({p})" if len(ps) > 1 and " and " in p else p for p in ps)
            for c, ps in paths.items()
        }
        return rules, tree.predict(filled)

    # ---------- using a fitted model

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Public cluster id of every row, with the fitted model (no refit)."""
        return self.cluster_ids_[self.model_.predict(self.transform(frame))]

    def fit_predict(self, frame: pl.DataFrame, **fit_options: Any) -> np.ndarray:
        return self.fit(frame, **fit_options).predict(frame)

    def assign(self, frame: pl.DataFrame) -> pl.DataFrame:
        """`customer_key, cluster_id, cluster_name` for every row of `frame`."""
        ids = self.predict(frame)
        names = [self.cluster_names_[int(i)] for i in ids]
        return pl.DataFrame(
            {
                "customer_key": frame["customer_key"],
                "cluster_id": pl.Series(ids, dtype=pl.Int32),
                "cluster_name": names,
            }
        )

    def rule_matches(self, frame: pl.DataFrame, cluster_id: int) -> pl.Series:
        """Whether each row satisfies the cluster's written rules (nulls read as the fit's medians)."""
        filled = frame.with_columns(
            [
                pl.col(f).cast(pl.Float64).fill_null(float(v))
                for f, v in zip(self.features, self.fill_values_, strict=True)
            ]
        )
        if cluster_id not in self.rules_:
            return pl.Series("match", [False] * frame.height)
        # with_columns broadcasts a rule that is a constant ("true" for a single group).
        return filled.with_columns(match=pl.sql_expr(self.rules_[cluster_id]))["match"]

    def profiles(self) -> pl.DataFrame:
        """One row per cluster: id, name, customers, share, description, rules, the share of its
        customers the rules place in it, feature means (JSON) against the overall means."""
        return pl.DataFrame(
            [
                {
                    "cluster_id": p["cluster_id"],
                    "cluster_name": p["cluster_name"],
                    "customers": p["customers"],
                    "share": p["share"],
                    "description": p["description"],
                    "rules": p["rules"],
                    "rule_recall": p["rule_recall"],
                    "feature_means": json.dumps(p["feature_means"]),
                    "overall_means": json.dumps(p["overall_means"]),
                }
                for p in self.profiles_
            ]
        )

    def get_params(self) -> dict[str, Any]:
        return {
            k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")
        }

    # ---------- saving

    def save(self, folder: Path | str) -> Path:
        """Writes `<folder>/customer-clusterer-<version>.joblib` and a `.json` with its metadata.

        Every save is its own version: when a model of the same fit date, settings and k is
        already there (a forced refit on the same day), this one gets the next `-fit<n>` suffix
        and the earlier file is kept. The metadata records when the model was saved."""
        folder = Path(folder)
        base = self.meta_.get("base_version", self.meta_["model_version"])
        version = claim_version(folder, MODEL_PREFIX, base)
        self.meta_ = {
            **self.meta_,
            "model_version": version,
            "base_version": base,
            "saved_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        }
        return write_model(folder, MODEL_PREFIX, version, self, self.meta_)


def _best_k(
    scores: dict[int, dict],
    min_stability: float,
    fallback: int,
    previous_k: int | None = None,
    tolerance: float = 0.0,
) -> int:
    """Best silhouette among the stable k; if none is stable, best silhouette x stability.

    A refit keeps the previous model's k when it is a candidate scoring within `tolerance` of the
    best: a hair's better separation is not worth regrouping and renaming customers.
    """
    if not scores:
        # Too few distinct customers to compare any k: keep the smallest.
        return fallback
    stable = [k for k, s in scores.items() if s["stability"] >= min_stability]
    if stable:
        candidates, score = stable, {k: scores[k]["silhouette"] for k in stable}
    else:
        candidates = list(scores)
        score = {k: scores[k]["silhouette"] * scores[k]["stability"] for k in scores}
    best = max(candidates, key=lambda k: score[k])
    if previous_k in score and score[previous_k] >= score[best] - tolerance:
        return previous_k
    return best


def _description(profile: dict[str, Any]) -> str:
    # The three features that set the group apart most, in the data's own units.
    differences = profile["scaled_differences"]
    top = sorted(differences, key=lambda f: -abs(differences[f]))[:3]
    figures = ", ".join(
        f"{f} {_readable(profile['feature_means'][f])} "
        f"(all customers {_readable(profile['overall_means'][f])})"
        for f in top
    )
    return f"Sets itself apart by {figures}."


def _readable(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 1 else f"{value:.2f}"


def _adjective_rank(word: str) -> int:
    for index, (high, low) in enumerate(ADJECTIVES.values()):
        if word in (high, low):
            return index
    return len(ADJECTIVES)


def _condition_text(conditions: list[tuple[str, str, float]]) -> str:
    # Keep only the tightest bound per feature and direction so a rule reads short.
    tightest: dict[tuple[str, str], float] = {}
    for feature, operator, threshold in conditions:
        key = (feature, operator)
        if key not in tightest:
            tightest[key] = threshold
        elif operator == "<=":
            tightest[key] = min(tightest[key], threshold)
        else:
            tightest[key] = max(tightest[key], threshold)
    if not tightest:
        return "true"
    return " and ".join(f"{f} {op} {_number(t)}" for (f, op), t in tightest.items())


def _number(value: float) -> str:
    return f"{round(value, 4):g}"


def _as_of(frame: pl.DataFrame) -> date | None:
    if "as_of_date" not in frame.columns or frame.is_empty():
        return None
    value = frame["as_of_date"].max()
    return value if isinstance(value, date) else None


def load_clusterer(path: Path | str) -> CustomerClusterer:
    """A clusterer saved with `CustomerClusterer.save`."""
    return load_model(path, CustomerClusterer)


def latest_model_path(folder: Path | str) -> Path | None:
    """The model of the latest fit date saved under `folder`; of several fits of that date, the
    last saved. None when there is none."""
    latest = latest_model(folder, MODEL_PREFIX)
    return latest[0] if latest is not None else None


def cluster_labels(
    features: pl.DataFrame,
    category_shares: pl.DataFrame | None = None,
    config: dict[str, Any] | None = None,
    preference_names: dict[str, str] | None = None,
    no_purchase_label: str = "No purchase yet",
) -> pl.DataFrame:
    """Fit a clusterer on one as-of date of customer features and return `customer_key,
    cluster_id, cluster_name` for every row (what integration tests compare with personas).

    Customers who never bought (null `recency_days`) are not clustered: they get cluster id -1
    and `no_purchase_label`, as in `segments.customer_segments`.
    """
    config = config if config is not None else load_clustering_config()
    frame = clustering_frame(features, category_shares, config["features"])
    bought = (
        pl.col("recency_days").is_not_null() if "recency_days" in frame.columns else pl.lit(True)
    )
    buyers = frame.filter(bought)
    clusterer = CustomerClusterer.from_config(config, preference_names)
    clusterer.fit(buyers)
    others = frame.filter(~bought).select(
        "customer_key",
        pl.lit(-1, pl.Int32).alias("cluster_id"),
        pl.lit(no_purchase_label).alias("cluster_name"),
    )
    labelled = pl.concat([clusterer.assign(buyers), others])
    # Back in the order of the features frame.
    return frame.select("customer_key").join(labelled, on="customer_key", how="left")


AGE_BANDS = (
    (0, 25, "under 25"),
    (25, 35, "25-34"),
    (35, 45, "35-44"),
    (45, 55, "45-54"),
    (55, 65, "55-64"),
    (65, 200, "65 and over"),
)


def sensitive_attribute_distribution(
    assignments: pl.DataFrame,
    customers: pl.DataFrame,
    as_of_date: date,
    attributes: tuple[str, ...] = ("age_band", "gender", "city", "country"),
) -> pl.DataFrame:
    """How age band, gender and location spread within each cluster, to see whether a segment
    skews: `cluster_id, attribute, value, customers, share` (share within the cluster).

    `assignments` has `customer_key, cluster_id`; `customers` has `customer_key` and any of
    `birth_year, gender, city, country` (missing columns or values read as 'unknown').
    """
    frame = assignments.join(customers, on="customer_key", how="left")
    if "birth_year" in frame.columns:
        age = as_of_date.year - pl.col("birth_year").cast(pl.Int32)
        band = pl.lit("unknown")
        for low, high, label in reversed(AGE_BANDS):
            band = pl.when((age >= low) & (age < high)).then(pl.lit(label)).otherwise(band)
        frame = frame.with_columns(age_band=band)
    parts = []
    for attribute in attributes:
        value = (
            pl.col(attribute).cast(pl.String).fill_null("unknown")
            if attribute in frame.columns
            else pl.lit("unknown")
        )
        counts = frame.group_by("cluster_id", value.alias("value")).len("customers")
        parts.append(counts.with_columns(attribute=pl.lit(attribute)))
    result = pl.concat(parts).with_columns(
        share=pl.col("customers") / pl.col("customers").sum().over("cluster_id", "attribute")
    )
    return result.select("cluster_id", "attribute", "value", "customers", "share").sort(
        "cluster_id", "attribute", pl.col("customers"), descending=[False, False, True]
    )
