"""The suites on a tiny DuckDB file: a good table passes, a bad day fails with the right expectation."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.quality.validate import Target, targets, validate_target
from tests.quality.tiny_warehouse import write_features_and_segments, write_order_lines

POS = Target(("raw", "pos_order_lines"), "raw.pos_order_lines", "raw_pos_order_lines", "raw")
FEATURES = Target(
    ("marts", "customer_features"), "marts.customer_features", "marts_customer_features", "features"
)
SEGMENTS = next(t for t in targets() if t.kind == "segments")


def failed(report, severity: str = "ERROR") -> list[str]:
    return [o.expectation for o in report.failed(severity)]


def test_a_good_day_of_order_lines_passes_every_expectation(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    last_day = write_order_lines(warehouse)

    report = validate_target(POS, warehouse, docs_dir=tmp_path / "docs")

    assert report.scope == f"_partition_date = {last_day}"
    assert report.row_count == 20
    assert failed(report, "ERROR") == [] and failed(report, "WARN") == []
    assert Path(report.data_docs).is_file() and report.data_docs.endswith(".html")
    overview = (tmp_path / "docs" / "index.html").read_text()
    assert 'href="raw_pos_order_lines/index.html"' in overview


def test_data_docs_compile_their_page_templates_once_per_process(tmp_path: Path) -> None:
    """Each suite renders its Data Docs through GX's views; the templates they compile are kept,
    so the next suite of the run compiles none (about 0.5 s a suite at tier L)."""
    from pipelines.quality.docs_views import COMPILED_TEMPLATES

    warehouse = tmp_path / "warehouse.duckdb"
    write_order_lines(warehouse)
    first = validate_target(POS, warehouse, docs_dir=tmp_path / "first")
    compiled = len(COMPILED_TEMPLATES)
    second = validate_target(POS, warehouse, docs_dir=tmp_path / "second")

    assert compiled > 10, "the sites are rendered through the views that keep their templates"
    assert len(COMPILED_TEMPLATES) == compiled
    for report in (first, second):
        page = Path(report.data_docs).read_text()
        # the validation page names the slice validated and renders the expectations' results
        assert "from raw.pos_order_lines where _partition_date in" in page
        assert "values must be greater than or equal to" in page


def test_a_day_with_30_percent_anonymous_orders_fails_the_customer_reference_check(
    tmp_path: Path,
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_order_lines(warehouse, last_day_null_share=0.3)

    report = validate_target(POS, warehouse)

    assert failed(report) == ["share_of_orders_with_customer_reference_not_dropping"]
    (outcome,) = report.failed("ERROR")
    assert outcome.unexpected_sample == [
        "2025-03-08: 70.0% of 20 orders identify a customer vs median 100.0%"
    ]


def test_a_day_of_negative_amounts_fails_the_price_range(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_order_lines(warehouse, last_day_sign=-1)

    report = validate_target(POS, warehouse)

    assert failed(report) == ["expect_column_values_to_be_between(unit_price)"]
    price = report.failed("ERROR")[0]
    assert price.unexpected_count == 20
    assert price.unexpected_sample[:3] == [-3.5, -3.5, -3.5]
    assert failed(report, "WARN") == ["net_revenue_of_the_day_not_negative"]


def test_a_day_of_returns_only_blocks(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    last_day = write_order_lines(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update raw.pos_order_lines set quantity = -1 where _partition_date = ?", [last_day]
        )

    report = validate_target(POS, warehouse)

    assert failed(report) == ["returns_share_plausible"]
    assert report.failed("ERROR")[0].unexpected_sample == [
        f"{last_day}: 20 of 20 lines are returns"
    ]


def test_the_run_partition_range_chooses_the_days_validated(tmp_path: Path) -> None:
    from datetime import date

    warehouse = tmp_path / "warehouse.duckdb"
    write_order_lines(warehouse, last_day_sign=-1)

    report = validate_target(POS, warehouse, partition_range=(date(2025, 3, 2), date(2025, 3, 4)))

    assert report.scope == "_partition_date 2025-03-02 .. 2025-03-04 (3 loaded days)"
    assert report.row_count == 60
    assert failed(report) == []


def keep_first_rows_of_last_day(warehouse: Path, last_day, rows: int) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "delete from raw.pos_order_lines where _partition_date = ? and _source_row > ?",
            [last_day, rows],
        )


def test_a_collapsed_day_blocks_on_the_row_count(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    keep_first_rows_of_last_day(warehouse, write_order_lines(warehouse), 1)

    report = validate_target(POS, warehouse)

    assert failed(report) == ["row_count_not_collapsing_vs_median_of_previous_7_days"]
    assert report.failed("ERROR")[0].unexpected_sample == ["2025-03-08: 1 rows vs median 20"]


def test_a_day_at_25_percent_of_usual_volume_only_warns(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    keep_first_rows_of_last_day(warehouse, write_order_lines(warehouse), 5)

    report = validate_target(POS, warehouse)

    assert failed(report) == []
    assert failed(report, "WARN") == ["row_count_not_dropping_vs_median_of_previous_7_days"]


def test_a_missing_raw_table_is_an_error(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_order_lines(warehouse)
    web = next(t for t in targets() if t.name == "web_events")

    report = validate_target(web, warehouse)

    assert failed(report) == ["table_exists"]


def test_features_and_segments_pass_when_consistent(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_features_and_segments(warehouse)

    features = validate_target(FEATURES, warehouse)
    segments = validate_target(SEGMENTS, warehouse)

    assert features.scope == "as_of_date = 2025-03-09 (the latest)"
    assert failed(features) == []
    # the thin features table lacks most contract columns: a warning, not a block
    assert failed(features, "WARN") == ["expect_table_columns_to_match_set()"]
    assert failed(segments) == [] and failed(segments, "WARN") == []


def test_an_order_on_the_as_of_day_itself_blocks_the_features(tmp_path: Path) -> None:
    # features as of D use events strictly before D: recency 0 means the day D leaked in
    warehouse = tmp_path / "warehouse.duckdb"
    write_features_and_segments(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.sql(
            "update marts.customer_features set recency_days = 0 "
            "where as_of_date = date '2025-03-09' and customer_key = 'k4'"
        )

    report = validate_target(FEATURES, warehouse)

    assert failed(report) == ["expect_column_values_to_be_between(recency_days)"]
    assert report.failed("ERROR")[0].unexpected_sample == [0]


def test_feature_drift_against_the_previous_as_of_date_warns(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_features_and_segments(warehouse, customers=60)
    with duckdb.connect(str(warehouse)) as con:
        con.sql(
            "update marts.customer_features set monetary = monetary * 3 "
            "where as_of_date = date '2025-03-09'"
        )

    report = validate_target(FEATURES, warehouse)

    assert failed(report) == []
    assert "feature_distribution_stable_vs_previous_as_of_date(monetary)" in failed(report, "WARN")


def test_a_shrinking_customer_count_blocks_a_shop_and_warns_a_tiny_one(tmp_path: Path) -> None:
    shrink = (
        "delete from marts.customer_features where as_of_date = date '2025-03-09' "
        "and customer_key in ('k1', 'k2')"
    )
    shop, tiny = tmp_path / "shop.duckdb", tmp_path / "tiny.duckdb"
    write_features_and_segments(shop, customers=60)
    write_features_and_segments(tiny, customers=12)
    with duckdb.connect(str(shop)) as con:
        # 60 -> 50 customers: a sixth of the shop vanished between snapshots
        con.sql(shrink.replace("('k1', 'k2')", "(select 'k' || i from range(10) t(i))"))
    with duckdb.connect(str(tiny)) as con:
        con.sql(shrink)  # 12 -> 10: two people merged into others

    assert failed(validate_target(FEATURES, shop)) == [
        "customer_count_not_shrinking_vs_previous_as_of_date"
    ]
    tiny_report = validate_target(FEATURES, tiny)
    assert failed(tiny_report) == []
    assert "customer_count_not_shrinking_vs_previous_as_of_date" in failed(tiny_report, "WARN")


def test_a_customer_without_segment_and_an_empty_cluster_block(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_features_and_segments(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.sql("delete from candidate.customer_segments where customer_key = 'k3'")
        con.sql("update candidate.customer_segments set cluster_id = 2 where cluster_id = 1")

    report = validate_target(SEGMENTS, warehouse)

    assert failed(report) == ["every_customer_of_latest_features_is_segmented"]
    assert failed(report, "WARN") == ["no_empty_cluster"]
    missing = next(o for o in report.outcomes if o.expectation.startswith("every_customer"))
    assert missing.unexpected_sample == ["k3"]


@pytest.mark.parametrize("target", targets(), ids=lambda t: t.suite)
def test_every_target_has_a_suite_in_the_gx_project(target: Target) -> None:
    from pipelines.quality.gx_runner import load_suite_json

    assert load_suite_json(target.suite)["name"] == target.suite


def test_malformed_emails_warn_with_a_sample(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    last_day = write_order_lines(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update raw.pos_order_lines set email = case when _source_row <= 2 "
            "then 'no-at-sign.example.com' else 'guest' || _source_row || '@example.com' end "
            "where _partition_date = ?",
            [last_day],
        )

    report = validate_target(POS, warehouse)

    assert failed(report) == []
    (email,) = report.failed("WARN")
    assert email.expectation == "email_values_look_like_addresses(email)"
    assert email.unexpected_count == 2
    assert email.unexpected_sample == ["no-at-sign.example.com"]


def test_a_quiet_days_wobble_in_identified_lines_is_not_an_alarm(tmp_path: Path) -> None:
    # usually half the lines are anonymous; 15 points more on a 20-line day is within the noise
    warehouse = tmp_path / "warehouse.duckdb"
    write_order_lines(warehouse, usual_null_share=0.5, last_day_null_share=0.65)

    report = validate_target(POS, warehouse)

    assert failed(report) == []


def test_the_command_line_validates_the_warehouse_and_exits_1_when_blocked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.quality.__main__ import main

    warehouse = tmp_path / "warehouse.duckdb"
    write_order_lines(warehouse, last_day_sign=-1)
    monkeypatch.setenv("WAREHOUSE_PATH", str(warehouse))

    code = main(["--table", "raw.pos_order_lines"])

    printed = capsys.readouterr().out
    assert code == 1
    assert "raw.pos_order_lines" in printed and "BLOCKED" in printed
    assert "ERROR expect_column_values_to_be_between(unit_price)" in printed


def test_a_pos_day_is_judged_against_exactly_its_previous_seven_loaded_days(
    tmp_path: Path,
) -> None:
    """The reference-share median reaches back seven loaded days however far apart they are
    (here three calendar days), and only the orders of those days and the day judged are read."""
    from datetime import timedelta

    from pipelines.quality.computed import order_line_outcomes
    from pipelines.quality.config import load_quality_config
    from tests.quality.tiny_warehouse import FIRST_DAY, order_lines_sql

    rules = load_quality_config().raw
    assert rules.row_count.lookback_days == 7
    # ten anonymous days long ago, then seven loaded days three days apart: four whose orders all
    # name a customer, then three anonymous ones. The median of those seven is 100 %; of any
    # shorter window, 50 % or less.
    old = [FIRST_DAY + timedelta(days=n) for n in range(10)]
    spaced = [old[-1] + timedelta(days=3 * n) for n in range(1, 8)]
    judged = spaced[-1] + timedelta(days=3)
    anonymous = {
        **dict.fromkeys(old, 1.0),
        **{d: 0.0 if i < 4 else 1.0 for i, d in enumerate(spaced)},
    }
    anonymous[judged] = 1.0
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.sql("create schema raw")
        con.sql(
            "create table raw.pos_order_lines as "
            + " union all ".join(
                order_lines_sql(day, null_customer_share=share) for day, share in anonymous.items()
            )
        )
        outcomes = {o.expectation: o for o in order_line_outcomes(con, [judged], rules)}

    references = outcomes["share_of_orders_with_customer_reference_not_dropping"]
    assert not references.success
    assert references.unexpected_sample == [
        f"{judged}: 0.0% of 20 orders identify a customer vs median 100.0%"
    ]
