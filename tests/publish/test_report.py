"""The HTML report: every section, standalone (no external URL), segment names and figures."""

from __future__ import annotations

import re

import duckdb

from pipelines.publish.report import SECTIONS
from tests.publish.fixture_warehouse import FIRST_AS_OF, SECOND_AS_OF, write_candidates


def test_the_report_has_every_section_and_needs_no_network(site, publish):
    write_candidates(site.warehouse, FIRST_AS_OF)
    publish()
    write_candidates(site.warehouse, SECOND_AS_OF)
    outcome = publish()

    assert outcome.report_path == site.reports / "2025-06-08.html"
    html = outcome.report_path.read_text()
    assert (site.reports / "latest.html").read_text() == html
    assert (site.reports / "2025-06-01.html").exists()
    for section in SECTIONS:
        assert f'<section id="{section}">' in html, section
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html), "external URL in the report"
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == 3  # sizes, heatmap and projection
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "Customer segments as of 2025-06-08" in html
    # the profile's description and rules, and the transition of c03
    assert "Bought recently and often" in html and "r_score &gt;= 4 and f_score &gt;= 4" in html
    assert "Morning regulars" in html and "Promising" in html
    assert outcome.projection_png is not None and outcome.projection_png.startswith(b"\x89PNG")


def test_the_report_says_when_profiles_or_features_are_missing(site, publish):
    write_candidates(site.warehouse, SECOND_AS_OF, with_profiles=False)
    with duckdb.connect(str(site.warehouse)) as con:
        con.execute("alter table marts.customer_features drop column web_sessions_90d")
    outcome = publish()
    html = outcome.report_path.read_text()
    # without candidate profiles the published profiles still list every segment, with sizes
    assert site.rows(
        "select customers from segments.segment_profiles "
        "where segment_type = 'rfm_segment' and segment = 'At risk'"
    ) == [(3,)]
    assert "Not available in marts.customer_features: web_sessions_90d." in html
    assert '<section id="projection">' in html and "principal components of recency_days" in html
