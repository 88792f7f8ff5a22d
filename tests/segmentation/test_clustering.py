"""The clusterer on planted groups: right k, groups recovered, names, rules, save/load, stability."""

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.cluster import MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score

from pipelines.refit import RefitDecision, should_refit
from pipelines.segmentation.assets import model_metadata
from pipelines.segmentation.clustering import (
    CustomerClusterer,
    _fitted,
    _KeptCdfRandomState,
    cluster_labels,
    latest_model_path,
    load_clusterer,
    sensitive_attribute_distribution,
)
from pipelines.segmentation.config import CLUSTERING_DEFAULTS, load_preference_names
from tests.segmentation.planted import AS_OF, FEATURES, GROUPS, planted_customers

LOGGED = ["frequency_365d", "monetary_365d", "avg_order_value"]


def make_clusterer(**overrides) -> CustomerClusterer:
    params = dict(
        features=FEATURES,
        log_features=LOGGED,
        k_min=3,
        k_max=6,
        silhouette_sample_size=800,
        preference_names=load_preference_names(),
    )
    params.update(overrides)
    return CustomerClusterer(**params)


@pytest.fixture(scope="module")
def customers() -> pl.DataFrame:
    return planted_customers(rows=1600)


@pytest.fixture(scope="module")
def fitted(customers: pl.DataFrame) -> CustomerClusterer:
    return make_clusterer().fit(customers)


def test_recovers_the_planted_groups_and_their_number(customers, fitted) -> None:
    labels = fitted.predict(customers)
    ari = adjusted_rand_score(customers["truth"].to_numpy(), labels)
    print(
        f"\nplanted groups: k chosen {fitted.n_clusters_}, ARI {ari:.3f}, scores {fitted.k_scores_}"
    )
    assert fitted.n_clusters_ == len(GROUPS)
    assert ari >= 0.8


def test_names_are_short_unique_and_say_what_sets_a_cluster_apart(customers, fitted) -> None:
    labels = fitted.predict(customers)
    names = list(fitted.cluster_names_.values())
    print("\ncluster names:", names)
    assert len(set(names)) == len(names)
    assert all(len(name.split()) <= 6 for name in names)
    # The planted in-store breakfast group is the one whose name says breakfast.
    breakfast = customers["truth"].to_numpy() == "in-store breakfast regulars"
    breakfast_id = int(np.bincount(labels[breakfast]).argmax())
    assert "breakfast regulars" in fitted.cluster_names_[breakfast_id]
    discount = customers["truth"].to_numpy() == "online discount hunters"
    discount_id = int(np.bincount(labels[discount]).argmax())
    assert "discount hunters" in fitted.cluster_names_[discount_id]


def test_profiles_count_every_customer_and_compare_means_with_the_overall_mean(
    customers, fitted
) -> None:
    profiles = fitted.profiles()
    assert profiles["customers"].sum() == customers.height
    assert profiles["cluster_name"].to_list() == [
        fitted.cluster_names_[i] for i in profiles["cluster_id"]
    ]
    assert (profiles["customers"] == 400).all()
    assert profiles["description"].str.contains(r"\(all customers [0-9.,]+\)").all()
    assert profiles["rule_recall"].min() >= 0.9
    assert profiles["share"].sum() == pytest.approx(1.0)
    labels = fitted.predict(customers)
    for profile in fitted.profiles_:
        members = customers.filter(pl.Series(labels == profile["cluster_id"]))
        expected = members["avg_order_value"].mean()
        assert profile["feature_means"]["avg_order_value"] == pytest.approx(expected)
        assert profile["overall_means"]["avg_order_value"] == pytest.approx(
            customers["avg_order_value"].mean()
        )


def test_written_rules_reproduce_cluster_membership(customers, fitted) -> None:
    labels = fitted.predict(customers)
    matched = np.full(customers.height, -1)
    for cluster_id in fitted.rules_:
        matches = fitted.rule_matches(customers, cluster_id).to_numpy()
        # The rules of different clusters never overlap: they are leaves of one tree.
        assert not (matches & (matched >= 0)).any()
        matched[matches] = cluster_id
    accuracy = float((matched == labels).mean())
    print(f"\nrules reproduce membership for {accuracy:.3f} of customers; rules: {fitted.rules_}")
    assert accuracy >= 0.9
    assert accuracy == pytest.approx(fitted.rule_accuracy_, abs=0.01)


def test_save_and_load_round_trip_predicts_identically(tmp_path, customers, fitted) -> None:
    path = fitted.save(tmp_path / "models")
    loaded = load_clusterer(path)
    assert latest_model_path(tmp_path / "models") == path
    assert loaded.meta_["features"] == FEATURES
    assert loaded.meta_["fit_date"] == AS_OF.isoformat()
    assert loaded.meta_["model_version"] == fitted.meta_["model_version"]
    assert np.array_equal(loaded.predict(customers), fitted.predict(customers))
    assert loaded.cluster_names_ == fitted.cluster_names_


def test_a_second_fit_on_the_same_day_is_a_new_version_and_keeps_the_first(
    tmp_path, customers
) -> None:
    # A forced refit on the day of the last fit: same date, settings and k, so the same base
    # version. Both files stay; the newest is the one the pipeline loads next.
    folder = tmp_path / "models"
    first = make_clusterer().fit(customers, as_of_date=AS_OF)
    first_path = first.save(folder)
    second = make_clusterer().fit(customers, as_of_date=AS_OF, previous=first)
    second_path = second.save(folder)
    print(f"\nsame-day fits saved as {first_path.name} and {second_path.name}")
    assert second_path != first_path
    assert second.meta_["model_version"] != first.meta_["model_version"]
    assert second.meta_["previous_version"] == first.meta_["model_version"]
    assert sorted(p.name for p in folder.glob("*.joblib")) == sorted(
        [first_path.name, second_path.name]
    )
    assert load_clusterer(first_path).meta_["model_version"] == first.meta_["model_version"]
    assert latest_model_path(folder) == second_path
    third_path = make_clusterer().fit(customers, as_of_date=AS_OF, previous=second).save(folder)
    assert latest_model_path(folder) == third_path
    assert len(list(folder.glob("*.json"))) == 3
    # a later fit date wins over a later save of an earlier date (a backfill)
    later = make_clusterer().fit(customers, as_of_date=AS_OF + timedelta(days=1)).save(folder)
    make_clusterer().fit(customers, as_of_date=AS_OF).save(folder)
    assert latest_model_path(folder) == later


def test_a_mostly_zero_column_does_not_decide_the_groups_alone(customers) -> None:
    # A voucher share that is zero for 74% of customers and unrelated to the groups: its
    # interquartile range is tiny, so plain robust scaling spreads its few non-zero values over
    # many units and the groups split on it alone (as the discount share did on the sample).
    rng = np.random.default_rng(3)
    voucher = np.where(
        rng.random(customers.height) < 0.74, 0.0, rng.uniform(0, 0.4, customers.height)
    )
    with_voucher = customers.with_columns(voucher_share=pl.Series(voucher))
    features = [*FEATURES, "voucher_share"]
    floored = make_clusterer(features=features).fit(with_voucher)
    plain = make_clusterer(features=features, min_scale_share_of_range=0).fit(with_voucher)
    floored_ari = adjusted_rand_score(with_voucher["truth"], floored.predict(with_voucher))
    plain_ari = adjusted_rand_score(with_voucher["truth"], plain.predict(with_voucher))
    print(
        f"\nplanted groups with a mostly-zero column: ARI {floored_ari:.3f} with the scale floor, "
        f"{plain_ari:.3f} with plain robust scaling"
    )
    assert floored_ari >= 0.6
    assert plain_ari < 0.2
    # no column spreads over more than 1 / 0.25 = 4 scaled units
    spread = np.ptp(floored.transform(with_voucher), axis=0)
    assert spread.max() <= 4 + 1e-9


def test_customers_who_appear_after_the_fit_are_assigned_without_refit(fitted) -> None:
    newcomers = planted_customers(rows=80, seed=99).with_columns(
        customer_key=pl.format("new-{}", pl.col("customer_key")),
        recency_days=pl.when(pl.col("customer_key") == "c00000")
        .then(None)
        .otherwise(pl.col("recency_days")),
    )
    before = fitted.meta_["model_version"]
    assigned = fitted.assign(newcomers)
    assert fitted.meta_["model_version"] == before
    assert assigned.height == 80
    assert set(assigned["cluster_id"].to_list()) <= set(fitted.cluster_names_)
    assert assigned["cluster_name"].null_count() == 0


def test_refit_on_the_next_day_keeps_ids_and_names(customers, fitted) -> None:
    next_day = planted_customers(rows=1600, jitter=0.05)
    refit = make_clusterer().fit(next_day, as_of_date=AS_OF + timedelta(days=1), previous=fitted)
    ari = adjusted_rand_score(fitted.predict(customers), refit.predict(next_day))
    same_id = float((fitted.predict(customers) == refit.predict(next_day)).mean())
    print(f"\nday over day: ARI {ari:.3f}, same cluster id for {same_id:.3f} of customers")
    assert ari >= 0.9
    assert same_id >= 0.9
    assert refit.cluster_names_ == fitted.cluster_names_
    assert refit.meta_["previous_version"] == fitted.meta_["model_version"]


def test_without_the_previous_model_a_refit_may_renumber(customers, fitted) -> None:
    # Same data, clusters found in a different order (another seed): matching puts ids back.
    other = make_clusterer(random_state=5, n_clusters=4)
    unmatched = other.fit(customers).predict(customers)
    matched = make_clusterer(random_state=5, n_clusters=4).fit(customers, previous=fitted)
    assert adjusted_rand_score(unmatched, fitted.predict(customers)) >= 0.99
    assert not np.array_equal(unmatched, fitted.predict(customers))
    assert np.array_equal(matched.predict(customers), fitted.predict(customers))


def test_a_new_group_gets_a_fresh_id_and_name(customers, fitted) -> None:
    # A fifth, very different group of gift buyers appears: the four known ones keep their ids.
    rng = np.random.default_rng(3)
    n = 400
    gifts = pl.DataFrame(
        {
            "customer_key": [f"g{i}" for i in range(n)],
            "as_of_date": [AS_OF] * n,
            "recency_days": rng.integers(100, 130, n).astype(float),
            "frequency_365d": np.full(n, 2.0),
            "monetary_365d": rng.uniform(900, 1100, n),
            "avg_order_value": rng.uniform(450, 550, n),
            "online_share": rng.uniform(0.95, 1.0, n),
            "discount_share": rng.uniform(0.5, 0.6, n),
            "share_breakfast": np.zeros(n),
            "truth": ["gift buyers"] * n,
        }
    )
    grown = pl.concat([customers, gifts])
    refit = make_clusterer(n_clusters=5).fit(grown, previous=fitted)
    old_ids = set(fitted.cluster_names_)
    new_ids = set(refit.cluster_names_) - old_ids
    assert len(new_ids) == 1
    assert min(new_ids) > max(old_ids)
    assert len(set(refit.cluster_names_.values())) == 5
    assert np.array_equal(refit.predict(customers), fitted.predict(customers))


def test_cluster_labels_takes_the_features_frame_and_long_category_shares() -> None:
    frame = planted_customers(rows=800, seed=11)
    shares = pl.concat(
        [
            frame.select(
                "customer_key",
                pl.lit("breakfast").alias("category_code"),
                pl.col("share_breakfast").alias("share"),
            ),
            frame.select(
                "customer_key",
                pl.lit("coffee").alias("category_code"),
                (1 - pl.col("share_breakfast")).alias("share"),
            ),
        ]
    )
    config = {**CLUSTERING_DEFAULTS, "features": FEATURES, "log_features": LOGGED, "k_max": 6}
    config["silhouette_sample_size"] = 600
    signup = frame.head(1).with_columns(
        customer_key=pl.lit("signup"), recency_days=None, truth=pl.lit("no orders")
    )
    frame = pl.concat([frame, signup])
    labels = cluster_labels(frame.drop("share_breakfast"), shares, config, load_preference_names())
    assert labels.columns == ["customer_key", "cluster_id", "cluster_name"]
    assert labels["customer_key"].to_list() == frame["customer_key"].to_list()
    assert labels.row(-1) == ("signup", -1, "No purchase yet")
    ari = adjusted_rand_score(frame["truth"].to_numpy(), labels["cluster_id"].to_numpy())
    assert ari >= 0.8


def test_sensitive_attributes_are_reported_per_cluster_not_clustered(fitted) -> None:
    assert not {"gender", "city", "birth_year"} & set(fitted.features)
    assignments = pl.DataFrame({"customer_key": ["a", "b", "c", "d"], "cluster_id": [0, 0, 0, 1]})
    demographics = pl.DataFrame(
        {
            "customer_key": ["a", "b", "c", "d"],
            "birth_year": [2004, 1990, None, 1950],
            "gender": ["female", "female", "male", None],
            "city": ["Ghent", "Ghent", "Leuven", "Ghent"],
        }
    )
    spread = sensitive_attribute_distribution(assignments, demographics, date(2026, 3, 2))

    def share(cluster: int, attribute: str, value: str) -> float:
        row = spread.filter(
            (pl.col("cluster_id") == cluster)
            & (pl.col("attribute") == attribute)
            & (pl.col("value") == value)
        )
        return row["share"].item()

    assert share(0, "gender", "female") == pytest.approx(2 / 3)
    assert share(0, "age_band", "under 25") == pytest.approx(1 / 3)
    assert share(0, "age_band", "unknown") == pytest.approx(1 / 3)
    assert share(1, "age_band", "65 and over") == 1.0
    assert share(1, "gender", "unknown") == 1.0
    assert share(1, "country", "unknown") == 1.0


def test_should_refit_weekly_and_when_settings_change(fitted) -> None:
    config = {**CLUSTERING_DEFAULTS, "refit_every_days": 7}
    from pipelines.refit import config_hash

    meta = {**fitted.meta_, "config_hash": config_hash(config)}
    assert should_refit(None, AS_OF, config).refit
    assert not should_refit(meta, AS_OF + timedelta(days=6), config)
    decision = should_refit(meta, AS_OF + timedelta(days=7), config)
    assert decision.refit and "7 days old" in decision.reason
    changed = {**config, "k_max": 8}
    assert should_refit(meta, AS_OF + timedelta(days=1), changed).reason.startswith(
        "clustering settings changed"
    )


def test_the_daily_run_leaves_a_due_model_to_the_weekly_refit_for_a_day(fitted) -> None:
    """Seven daily runs fall between two model_refit runs: on the seventh the model is due and the
    refit comes the next morning, so the daily run (grace 1 day) refits only a day after that."""
    from pipelines.refit import DAILY_RUN_GRACE_DAYS, config_hash

    config = {**CLUSTERING_DEFAULTS, "refit_every_days": 7}
    meta = {**fitted.meta_, "config_hash": config_hash(config)}

    def daily(days: int, settings: dict = config) -> RefitDecision:
        return should_refit(
            meta, AS_OF + timedelta(days=days), settings, grace_days=DAILY_RUN_GRACE_DAYS
        )

    assert DAILY_RUN_GRACE_DAYS == 1
    assert daily(6) == RefitDecision(False, "saved model is 6 days old (refit every 7)")
    assert daily(7) == RefitDecision(
        False, "saved model is 7 days old (refit every 7, by the model_refit run)"
    )
    # refitted for its age only: the saved model may still serve if the new fit fails
    assert daily(8) == RefitDecision(
        True,
        "saved model is 8 days old (refit every 7), and the model_refit run has not refitted it",
        saved_usable=True,
    )
    # changed settings or no model at all are never left to the weekly run, and then no saved
    # model may stand in
    changed = daily(1, {**config, "k_max": 8})
    assert changed.refit and not changed.saved_usable
    missing = should_refit(None, AS_OF, config, grace_days=DAILY_RUN_GRACE_DAYS)
    assert missing.refit and not missing.saved_usable
    forced = should_refit(meta, AS_OF + timedelta(days=2), config, force_refit=True)
    assert forced.refit and forced.saved_usable


def test_k_is_the_best_separated_among_the_stable_choices() -> None:
    from pipelines.segmentation.clustering import _best_k

    scores = {
        3: {"silhouette": 0.5, "stability": 0.95},
        4: {"silhouette": 0.7, "stability": 0.9},
        5: {"silhouette": 0.8, "stability": 0.6},
    }
    assert _best_k(scores, 0.8, fallback=3) == 4
    assert _best_k(scores, 0.99, fallback=3) == 4  # 0.7 x 0.9 beats 0.5 x 0.95 and 0.8 x 0.6
    assert _best_k({}, 0.8, fallback=3) == 3


def test_customers_who_all_look_alike_still_get_a_segment() -> None:
    same = planted_customers(rows=40).with_columns([pl.lit(1.0).alias(f) for f in FEATURES])
    clusterer = make_clusterer(k_max=4).fit(same)
    assert len(set(clusterer.predict(same))) == 1
    assert all(name for name in clusterer.cluster_names_.values())
    # One group: its rule is "true" and places everyone.
    only_group = next(iter(clusterer.rules_))
    assert clusterer.rule_matches(same, only_group).all()


def test_a_refit_keeps_the_previous_k_unless_another_separates_clearly_better() -> None:
    from pipelines.segmentation.clustering import _best_k

    scores = {
        3: {"silhouette": 0.50, "stability": 0.95},
        4: {"silhouette": 0.52, "stability": 0.90},
        5: {"silhouette": 0.40, "stability": 0.90},
        6: {"silhouette": 0.60, "stability": 0.50},
    }
    assert _best_k(scores, 0.8, fallback=3) == 4
    assert _best_k(scores, 0.8, fallback=3, previous_k=3, tolerance=0.03) == 3
    assert _best_k(scores, 0.8, fallback=3, previous_k=3, tolerance=0.01) == 4
    assert _best_k(scores, 0.8, fallback=3, previous_k=5, tolerance=0.03) == 4
    # an unstable previous k is not kept
    assert _best_k(scores, 0.8, fallback=3, previous_k=6, tolerance=0.5) == 4


def test_names_say_weekend_weekday_and_morning_for_the_timing_features() -> None:
    # Three planted groups on when they buy (as marts.customer_features has it) and breakfast:
    # weekday-morning breakfast buyers, weekend shoppers, and evening online buyers.
    rng = np.random.default_rng(3)
    planted = {
        "weekday mornings": dict(weekend=0.02, morning=0.95, online=0.02, breakfast=0.6),
        "weekends": dict(weekend=0.75, morning=0.2, online=0.1, breakfast=0.1),
        "online evenings": dict(weekend=0.3, morning=0.02, online=0.9, breakfast=0.0),
    }
    truth = np.repeat(list(planted), 200)
    frame = pl.DataFrame(
        {
            "customer_key": [f"c{i}" for i in range(len(truth))],
            "as_of_date": [AS_OF] * len(truth),
            **{
                column: np.clip(
                    [planted[t][key] for t in truth] + rng.normal(0, 0.05, len(truth)), 0, 1
                )
                for column, key in (
                    ("weekend_order_share", "weekend"),
                    ("morning_order_share", "morning"),
                    ("online_share", "online"),
                    ("share_breakfast", "breakfast"),
                )
            },
        }
    )
    clusterer = make_clusterer(
        features=["weekend_order_share", "morning_order_share", "online_share", "share_breakfast"],
        log_features=[],
        n_clusters=3,
    ).fit(frame)
    ids = clusterer.predict(frame)
    name_of = {
        group: clusterer.cluster_names_[int(np.bincount(ids[truth == group]).argmax())]
        for group in planted
    }
    print("\ntiming cluster names:", name_of)
    assert len(set(name_of.values())) == 3
    assert name_of["weekday mornings"] == "Weekday morning breakfast regulars"
    assert name_of["weekends"].startswith("Weekend")
    # no column name leaks into a name ("high weekend order share", "low share breakfast")
    assert not any("share" in name or "_" in name for name in name_of.values())


def _blobs_and_ring(seed: int, ring: bool = True, jitter: float = 0.0) -> pl.DataFrame:
    """Three tight groups of 200 customers and, optionally, a thin ring of 40 (two features)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = np.repeat(centres, 200, axis=0) + rng.normal(0, 0.7, (600, 2))
    radius = 2.0 + rng.normal(0, 0.15, 40)
    angle = rng.uniform(0, 2 * np.pi, 40)
    if ring:
        points = np.vstack(
            [points, np.column_stack([10 + radius * np.cos(angle), 10 + radius * np.sin(angle)])]
        )
    if jitter:
        points = points + np.random.default_rng(seed + 1).normal(0, jitter, points.shape)
    return pl.DataFrame(
        {
            "customer_key": [f"c{i}" for i in range(len(points))],
            "x": points[:, 0],
            "y": points[:, 1],
        }
    )


def test_a_weekly_refit_keeps_k_and_ids_when_the_previous_grouping_still_holds() -> None:
    # The saved model has 5 groups (the ring split in two). A week later the customers barely
    # moved; 4 groups separate them a hair better (silhouette 0.86) and a fresh k-means with 5
    # groups lands in a worse split (0.70), which used to change k and regroup the ring.
    # Started from the saved centres, 5 groups score 0.84 and match the saved model.
    def two_features(**overrides) -> CustomerClusterer:
        return CustomerClusterer(
            features=["x", "y"], k_min=3, k_max=6, silhouette_sample_size=800, **overrides
        )

    week_ago = _blobs_and_ring(seed=1)
    saved = two_features(n_clusters=5).fit(week_ago, as_of_date=AS_OF)
    today = _blobs_and_ring(seed=1, jitter=0.1)
    refit = two_features().fit(today, as_of_date=AS_OF + timedelta(days=7), previous=saved)
    print(f"\nrefit k {refit.n_clusters_}, scores {refit.k_scores_}")
    assert refit.n_clusters_ == 5
    assert refit.cluster_names_ == saved.cluster_names_
    assert adjusted_rand_score(saved.predict(today), refit.predict(today)) >= 0.99
    assert np.array_equal(saved.predict(today), refit.predict(today))
    check = refit.meta_["previous_k_check"]
    assert check["best_k"] == 4 and check["kept"] and check["agreement_with_previous"] >= 0.99
    # The run's metadata reports the kept model's own silhouette, not the fresh k-means' at k 5.
    shown = model_metadata(RefitDecision(True, "due"), refit, Path("m.joblib"))
    assert shown["silhouette"] == round(check["silhouette"], 4)
    assert shown["silhouette"] != round(refit.k_scores_[5]["silhouette"], 4)
    assert shown["previous_k_kept"].startswith(
        "k 5 kept from the saved model, refitted from its centres: silhouette 0.8"
    )
    assert "for the best fresh k 4," in shown["previous_k_kept"]
    assert "resampling_stability_ari" not in shown

    # When the ring's customers are gone the saved grouping no longer fits: k changes.
    changed = _blobs_and_ring(seed=1, ring=False, jitter=0.1)
    regrouped = two_features().fit(changed, as_of_date=AS_OF + timedelta(days=7), previous=saved)
    assert not regrouped.meta_["previous_k_check"]["kept"]
    assert regrouped.n_clusters_ == 3


def _four_groups(bottom_right: float, top_right: float, seed: int = 3) -> pl.DataFrame:
    """Four groups of 150 customers: at (0, 0) and (0, 10), and at the given x at y 0 and 10."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [bottom_right, 0.0], [0.0, 10.0], [top_right, 10.0]])
    points = np.repeat(centres, 150, axis=0) + rng.normal(0, 0.7, (600, 2))
    return pl.DataFrame(
        {"customer_key": [f"c{i}" for i in range(600)], "x": points[:, 0], "y": points[:, 1]}
    )


def test_a_weekly_refit_with_the_same_k_keeps_the_saved_grouping_when_it_still_holds() -> None:
    # Three groups for four: the two closest groups share one. A week ago the top two were
    # closer (10 apart, the bottom two 10.5), and the saved model put them together. Today the
    # bottom two are the closer pair by as little: a fresh k-means with the same k pairs them
    # instead and moves the customers of three of the four groups, although no one moved more
    # than half a unit. Started from the saved centres, k-means keeps the saved grouping, which
    # separates today's customers within 0.03 of silhouette as well.
    def clusterer(**overrides) -> CustomerClusterer:
        return CustomerClusterer(features=["x", "y"], k_min=3, k_max=3, **overrides)

    week_ago = _four_groups(bottom_right=10.5, top_right=10.0)
    saved = clusterer(n_clusters=3).fit(week_ago, as_of_date=AS_OF)
    today = _four_groups(bottom_right=10.0, top_right=10.5)
    fresh = clusterer().fit(today, as_of_date=AS_OF + timedelta(days=7))
    refit = clusterer().fit(today, as_of_date=AS_OF + timedelta(days=7), previous=saved)
    fresh_agreement = adjusted_rand_score(saved.predict(today), fresh.predict(today))
    print(f"\nfresh fit vs saved model: ARI {fresh_agreement:.3f}; check {refit.previous_k_check_}")
    assert fresh_agreement < 0.5, "the fixture no longer makes a fresh fit regroup customers"
    assert refit.n_clusters_ == 3
    assert np.array_equal(saved.predict(today), refit.predict(today))
    assert refit.cluster_names_ == saved.cluster_names_
    check = refit.meta_["previous_k_check"]
    assert check["kept"] and check["best_k"] == check["previous_k"] == 3
    assert check["agreement_with_previous"] == 1.0
    assert check["best_silhouette"] - 0.03 <= check["silhouette"] < check["best_silhouette"]
    shown = model_metadata(RefitDecision(True, "due"), refit, Path("m.joblib"))
    assert shown["previous_k_kept"].startswith(
        "k 3 kept from the saved model, refitted from its centres: silhouette 0.6"
    )
    assert "for a fresh k-means with k 3," in shown["previous_k_kept"]

    # When the bottom pair is clearly the closer one (10 against 12), the fresh grouping wins.
    changed = _four_groups(bottom_right=10.0, top_right=12.0)
    regrouped = clusterer().fit(changed, as_of_date=AS_OF + timedelta(days=7), previous=saved)
    assert not regrouped.meta_["previous_k_check"]["kept"]
    assert adjusted_rand_score(saved.predict(changed), regrouped.predict(changed)) < 0.5


def test_weighted_draws_with_kept_cumulative_weights_are_numpys_draws() -> None:
    # MiniBatchKMeans draws every minibatch with the same weights; the kept cumulative sum must
    # give what numpy draws from the same seed, call after call, and leave other calls alone.
    weights = np.random.default_rng(0).random(1000)
    weights /= weights.sum()
    numpy_state, kept = np.random.RandomState(11), _KeptCdfRandomState(11)
    for _ in range(5):
        expected = numpy_state.choice(1000, 64, replace=True, p=weights)
        assert np.array_equal(kept.choice(1000, 64, replace=True, p=weights), expected)
        assert kept._weights is weights
    assert np.array_equal(
        kept.choice(1000, 8, replace=False), numpy_state.choice(1000, 8, replace=False)
    )
    assert kept.choice(1000, p=weights) == numpy_state.choice(1000, p=weights)
    other = np.full(1000, 1 / 1000)
    assert np.array_equal(kept.choice(1000, 64, p=other), numpy_state.choice(1000, 64, p=other))
    with pytest.raises(ValueError, match="probabilities"):
        _KeptCdfRandomState(11).choice(1000, 64, p=np.full(1000, 0.5))


def test_a_minibatch_fit_is_the_one_scikit_learn_makes_from_the_seed(customers) -> None:
    # Above `minibatch_above_customers` the clusterer fits MiniBatchKMeans; drawing the
    # minibatches from kept cumulative weights must not change a centre or a label.
    matrix = make_clusterer().fit(customers).transform(customers)
    for k in (3, 5):
        expected = MiniBatchKMeans(n_clusters=k, n_init=2, random_state=4).fit(matrix)
        model = _fitted(MiniBatchKMeans(n_clusters=k, n_init=2, random_state=4), matrix)
        assert np.array_equal(model.cluster_centers_, expected.cluster_centers_)
        assert np.array_equal(model.labels_, expected.labels_)
        assert model.n_steps_ == expected.n_steps_
        assert model.random_state == 4  # the saved model keeps its seed, not a generator

    minibatch = make_clusterer(minibatch_above_customers=500).fit(customers)
    assert isinstance(minibatch.model_, MiniBatchKMeans)
    assert minibatch.model_.random_state == 0
    assert minibatch.n_clusters_ == len(GROUPS)
    assert adjusted_rand_score(customers["truth"].to_numpy(), minibatch.predict(customers)) >= 0.8
