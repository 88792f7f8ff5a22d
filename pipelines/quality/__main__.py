"""`python -m pipelines.quality`: run every suite on the warehouse, build Data Docs, print a summary.

For a person (or `make docs`) outside Dagster; exits 1 when an ERROR expectation fails.
"""

from __future__ import annotations

import argparse
import sys

from pipelines.quality.config import load_quality_config
from pipelines.quality.validate import targets, validate_target
from pipelines.settings import get_paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--table", action="append", help="schema.table to validate (repeatable; default: all)"
    )
    args = parser.parse_args(argv)
    config = load_quality_config()
    paths = get_paths()
    chosen = [t for t in targets(config) if not args.table or t.table in args.table]
    if not chosen:
        known = ", ".join(t.table for t in targets(config))
        parser.error(f"no watched table among {args.table}; known tables: {known}")
    if not paths.warehouse.exists():
        print(f"No warehouse at {paths.warehouse}: run `make run` first.", file=sys.stderr)
        return 1
    docs_dir = paths.docs / config.data_docs_subdir
    blocked = False
    for target in chosen:
        report = validate_target(target, paths.warehouse, docs_dir=docs_dir, config=config)
        errors, warnings = report.failed("ERROR"), report.failed("WARN")
        blocked |= bool(errors)
        status = "BLOCKED" if errors else ("warnings" if warnings else "ok")
        print(f"{target.table:<32} {status:<9} {report.row_count:>9} rows  {report.scope}")
        for outcome in [*errors, *warnings]:
            print(f"    {outcome.severity:<5} {outcome.expectation}")
    print(f"Data Docs: {docs_dir / 'index.html'}")
    return 1 if blocked else 0


if __name__ == "__main__":
    raise SystemExit(main())
