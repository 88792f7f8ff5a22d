"""Command line: `python -m pipelines.sample_data --out DIR --customers N --days D ...`."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

from pipelines.sample_data.generator import CHUNK_CUSTOMERS, generate
from pipelines.settings import get_paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate a café chain's sample exports.")
    parser.add_argument(
        "--out", type=Path, default=None, help="data folder (default: get_paths().data_dir)"
    )
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument(
        "--end-date",
        type=date.fromisoformat,
        default=None,
        help="YYYY-MM-DD, default yesterday (UTC)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--defect-rate", type=float, default=0.01)
    parser.add_argument("--no-web", action="store_true", help="a shop without web analytics")
    parser.add_argument(
        "--chunk-customers",
        type=int,
        default=CHUNK_CUSTOMERS,
        help=f"customers generated at a time: bounds memory (default {CHUNK_CUSTOMERS:,})",
    )
    parser.add_argument(
        "--skip-if-exists", action="store_true", help="do nothing when <out>/incoming has files"
    )
    args = parser.parse_args(argv)
    out = args.out or get_paths().data_dir
    incoming = out / "incoming"
    if args.skip_if_exists and incoming.is_dir() and any(p.is_file() for p in incoming.rglob("*")):
        print(f"{incoming} already has files: nothing generated")
        return 0
    end = args.end_date or (datetime.utcnow().date() - timedelta(days=1))
    started = datetime.now()
    summary = generate(
        out,
        customers=args.customers,
        days=args.days,
        end_date=end,
        seed=args.seed,
        defect_rate=args.defect_rate,
        include_web=not args.no_web,
        chunk_customers=args.chunk_customers,
    )
    seconds = (datetime.now() - started).total_seconds()
    print(
        f"{summary.customers} customers, {summary.start_date} .. {summary.end_date}, {seconds:.1f}s -> {out}"
    )
    for name, rows in summary.rows.items():
        print(f"  {name:<18} {rows:>11,} rows in {summary.files[name]} files")
    for kind, count in summary.defects.items():
        print(f"  defect {kind:<22} {count:>7,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
