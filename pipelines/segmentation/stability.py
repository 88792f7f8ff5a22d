"""Keeping segment ids and names from one fit to the next (when to refit: `pipelines.refit`)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def match_centroids(
    new_centroids: np.ndarray, previous_centroids: np.ndarray, max_distance: float
) -> dict[int, int]:
    """Pairs new clusters with previous ones (Hungarian matching on centroid distance).

    Both arrays are centroids in the same scaled space, one row per cluster. Returns
    {new row: previous row} for pairs closer than `max_distance`; a new cluster left out is
    genuinely new and gets a fresh id.
    """
    distances = np.linalg.norm(new_centroids[:, None, :] - previous_centroids[None, :, :], axis=2)
    new_rows, previous_rows = linear_sum_assignment(distances)
    return {
        int(n): int(p)
        for n, p in zip(new_rows, previous_rows, strict=True)
        if distances[n, p] <= max_distance
    }
