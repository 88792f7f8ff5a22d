"""The peer: what a typical analyst writes with pandas and scikit-learn, timed like the pipeline.

Every landed file read with `pd.read_csv` / `pd.read_json(lines=True)` / `pd.read_parquet`,
RFM with a groupby, KMeans on it.

    python -m bench.peer --incoming DIR --first D --last D --out peer.json
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from bench.landing import landed_files


def read_all(files: dict[str, dict[str, list[Path]]]) -> dict[str, pd.DataFrame]:
    """One DataFrame per source entity, from every file."""
    frames: dict[str, pd.DataFrame] = {}
    for table, by_format in files.items():
        parts = []
        for fmt, paths in by_format.items():
            for path in paths:
                if fmt == "csv":
                    parts.append(pd.read_csv(path))
                elif fmt == "json":
                    parts.append(pd.read_json(path, lines=True))
                else:
                    parts.append(pd.read_parquet(path))
        frames[table] = pd.concat(parts, ignore_index=True)
    return frames


def rfm(order_lines: pd.DataFrame) -> pd.DataFrame:
    """Recency, frequency and monetary per known customer, as an analyst's groupby."""
    lines = order_lines[order_lines["customer_id"].notna()].copy()
    lines["ordered_at"] = pd.to_datetime(lines["ordered_at"], errors="coerce", format="mixed")
    lines["quantity"] = pd.to_numeric(lines["quantity"], errors="coerce")
    lines["unit_price"] = pd.to_numeric(lines["unit_price"], errors="coerce")
    discount = pd.to_numeric(lines.get("discount_amount"), errors="coerce")
    lines["net"] = lines["quantity"] * lines["unit_price"] - discount.fillna(0)
    orders = lines.groupby(["customer_id", "order_id"]).agg(
        ordered_at=("ordered_at", "min"),
        net=("net", "sum"),
        is_return=("quantity", lambda q: bool((q < 0).all())),
    )
    orders = orders[orders["ordered_at"].notna()].reset_index()
    as_of = orders["ordered_at"].max().normalize() + pd.Timedelta(days=1)
    orders["bought"] = ~orders["is_return"]
    result = orders.groupby("customer_id").agg(
        last=("ordered_at", "max"), frequency=("bought", "sum"), monetary=("net", "sum")
    )
    result["recency_days"] = (as_of - result["last"].dt.normalize()).dt.days
    return result[["recency_days", "frequency", "monetary"]]


def cluster(features: pd.DataFrame, clusters: int = 4) -> np.ndarray:
    """KMeans on log-scaled, standardised R, F and M."""
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    matrix = np.log1p(features.fillna(0).clip(lower=0).to_numpy(dtype=float))
    matrix = StandardScaler().fit_transform(matrix)
    return KMeans(n_clusters=min(clusters, len(matrix)), n_init=10, random_state=0).fit_predict(
        matrix
    )


def run_peer(incoming: Path, first: date, last: date) -> dict[str, object]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    frames = read_all(landed_files(incoming, first, last))
    timings["read"] = time.perf_counter() - started
    tick = time.perf_counter()
    features = rfm(frames["pos_order_lines"])
    timings["rfm_groupby"] = time.perf_counter() - tick
    tick = time.perf_counter()
    labels = cluster(features)
    timings["kmeans"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - started
    return {
        "stages_s": {k: round(v, 3) for k, v in timings.items()},
        "rows": {table: len(frame) for table, frame in frames.items()},
        "customers_scored": len(features),
        "clusters": len(set(labels.tolist())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The pandas peer: read, groupby RFM, KMeans.")
    parser.add_argument("--incoming", type=Path, required=True)
    parser.add_argument("--first", type=date.fromisoformat, required=True)
    parser.add_argument("--last", type=date.fromisoformat, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.write_text(json.dumps(run_peer(args.incoming, args.first, args.last), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
