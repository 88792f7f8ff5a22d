"""The publish asset in Dagster: materialized against a temp warehouse, and held back by a gate."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from pipelines.publish.assets import published_segments
from pipelines.publish.definitions import defs as publish_defs
from pipelines.quality.checks import GATE, build_suite_check
from pipelines.quality.validate import targets
from tests.publish.fixture_warehouse import FIRST_AS_OF, SECOND_AS_OF, write_candidates

CANDIDATE = dg.AssetKey(["candidate", "customer_segments"])


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def data_dir(site, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEGMENTS_DATA_DIR", str(site.warehouse.parent))
    monkeypatch.setenv("WAREHOUSE_PATH", str(site.warehouse))
    return site.warehouse.parent


def test_materializing_the_asset_publishes_tables_exports_and_report(site, data_dir, instance):
    write_candidates(site.warehouse, FIRST_AS_OF)

    result = dg.materialize(
        [published_segments],
        resources={"duckdb": DuckDBResource(database=str(site.warehouse))},
        instance=instance,
    )

    assert result.success
    metadata = result.asset_materializations_for_node("published_segments")
    by_key = {m.asset_key.to_user_string(): m.metadata for m in metadata}
    assert len(by_key) == 7
    assert by_key["segments/customer_segments"]["dagster/row_count"].value == 12
    publication = by_key["segments/publication"]
    assert publication["as_of_date"].value == "2025-06-01"
    report = Path(publication["report"].value)
    assert report == data_dir / "reports" / "2025-06-01.html" and report.is_file()
    assert publication["report_url"].value == report.as_uri()
    assert publication["projection"].value.startswith(
        "![customers by segment](data:image/png;base64,"
    )
    # Ada, Cleo, Eve, Gus, Ivo, Kai: consented with an address, once per email segment type
    assert publication["consenting_contacts_exported"].value == 6 * 4
    assert json.loads((data_dir / "exports" / "latest.json").read_text())["run_id"] == result.run_id
    assert site.rows("select run_id from segments.publication") == [(result.run_id,)]


def test_the_definitions_bring_no_resources_and_need_only_duckdb():
    assert list(publish_defs.assets) == [published_segments]
    assert not publish_defs.resources
    assert published_segments.required_resource_keys - {"io_manager"} == {"duckdb"}
    assert {spec.group_name for spec in published_segments.specs} == {"publish"}
    assert published_segments.op.pool == "warehouse"


@dg.asset(key=["candidate", "customer_segments"])
def second_day_candidates(duckdb: DuckDBResource) -> None:
    """Stands in for segmentation: a second day on which one customer lost its RFM segment."""
    write_candidates(Path(duckdb.database), SECOND_AS_OF)
    with duckdb.get_connection() as con:
        con.execute(
            "update candidate.customer_segments set rfm_segment = null where customer_key = 'c05'"
        )


def test_a_failed_gate_keeps_the_last_publication(site, data_dir, instance):
    write_candidates(site.warehouse, FIRST_AS_OF)
    resources = {"duckdb": DuckDBResource(database=str(site.warehouse))}
    assert dg.materialize([published_segments], resources=resources, instance=instance).success
    report_before = (data_dir / "reports" / "latest.html").read_text()

    gate = build_suite_check(next(t for t in targets() if t.asset_key == tuple(CANDIDATE.path)))
    result = dg.materialize(
        [second_day_candidates, gate, published_segments],
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )

    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == GATE)
    assert not evaluation.passed
    failed = [f["expectation"] for f in evaluation.metadata["failed"].value]
    assert any("rfm_segment" in name for name in failed), failed
    assert not result.asset_materializations_for_node("published_segments")
    assert site.rows("select as_of_date from segments.publication") == [(FIRST_AS_OF,)]
    assert site.rows("select count(*) from segments.customer_segments") == [(12,)]
    assert (
        json.loads((data_dir / "exports" / "latest.json").read_text())["as_of_date"] == "2025-06-01"
    )
    assert (data_dir / "reports" / "latest.html").read_text() == report_before
    assert not (data_dir / "exports" / "2025-06-08").exists()
    with duckdb.connect(str(site.warehouse), read_only=True) as con:
        assert con.execute(
            "select count(*) from candidate.customer_segments where rfm_segment is null"
        ).fetchall() == [(1,)]
