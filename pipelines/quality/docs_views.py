"""Data Docs views that compile Great Expectations' page templates once per process.

Every suite's checkpoint renders its Data Docs site through new GX view objects, and each builds a
new Jinja environment, which compiles the same ~50 templates again: about 0.5 s of the 1.3 s a
small suite took at tier L (docs/performance.md). These views are GX's own, with one in-memory
bytecode cache shared by all of them, so a run's later suites reuse the compiled templates. Jinja
checks each cached template against its source's checksum, so a changed GX template is compiled
anew. Named in the site configuration `gx_runner.run_suite` builds (`view` of each section).
"""

from __future__ import annotations

from typing import Any

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class _InMemoryBytecodeCache(BytecodeCache):
    """Compiled templates by Jinja's bucket key (template name and file), for this process."""

    def __init__(self) -> None:
        self._compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        compiled = self._compiled.get(bucket.key)
        if compiled is not None:
            bucket.bytecode_from_string(compiled)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._compiled[bucket.key] = bucket.bytecode_to_string()

    def __len__(self) -> int:
        return len(self._compiled)


COMPILED_TEMPLATES = _InMemoryBytecodeCache()


class PageView(DefaultJinjaPageView):
    """GX's page view (suite and validation pages), with the shared compiled templates."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = COMPILED_TEMPLATES


class IndexPageView(DefaultJinjaIndexPageView):
    """GX's site index view, with the shared compiled templates."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = COMPILED_TEMPLATES


def site_views() -> dict[str, Any]:
    """The parts of a SiteBuilder configuration that name these views."""
    view = {"module_name": __name__, "class_name": PageView.__name__}
    return {
        "site_index_builder": {
            "class_name": "DefaultSiteIndexBuilder",
            "view": {"module_name": __name__, "class_name": IndexPageView.__name__},
        },
        "site_section_builders": {
            "expectations": {"view": view},
            "validations": {"view": view},
        },
    }
