"""Nearest training neighbours (DATA-10): whether a model's samples copy its training images.

A sample that sits much closer to its nearest training image than held-out images sit to theirs
is a copy; ``specdiff evaluate`` reports both distances and shows the neighbours in its report.
"""

from typing import NamedTuple

import torch
from jaxtyping import Float, Float64, Int64, UInt8

from specdiff._typecheck import typechecked
from specdiff.data import uint8_to_unit_range
from specdiff.diffusion._validate import require_tensor_finite
from specdiff.spec._validate import require_int_at_least

# Reference images compared at once: memory stays at queries × CHUNK distances (CIFAR-10 has
# 50,000 training images).
CHUNK = 2048


class Neighbours(NamedTuple):
    """For each query, the indices of its k nearest references, nearest first, and their RMS
    distances."""

    indices: Int64[torch.Tensor, "query k"]
    distances: Float64[torch.Tensor, "query k"]


@typechecked
def nearest_neighbours(
    queries: Float[torch.Tensor, "query *query_image"],
    references: UInt8[torch.Tensor, "reference *image"],
    k: int,
) -> Neighbours:
    """DATA-10: the k references nearest each query by RMS distance √(mean((q − r)²)) in
    float64, r = uint8_to_unit_range(reference) (DATA-1), nearest first, ties to the lower
    index."""
    count = references.shape[0]
    if require_int_at_least("k", k, 1) > count:
        raise ValueError(f"k must be in [1, {count}] (the number of references), got {k}")
    if tuple(queries.shape[1:]) != tuple(references.shape[1:]):
        raise ValueError(f"queries must have the references' image shape "
                         f"{tuple(references.shape[1:])}, got {tuple(queries.shape[1:])}")
    require_tensor_finite("queries", queries)
    flat = queries.detach().to("cpu", torch.float64).reshape(queries.shape[0], -1)
    size = flat.shape[1]
    best_distances = torch.zeros((flat.shape[0], 0), dtype=torch.float64)
    best_indices = torch.zeros((flat.shape[0], 0), dtype=torch.int64)
    for start in range(0, count, CHUNK):
        chunk = uint8_to_unit_range(references[start:start + CHUNK].cpu()).to(torch.float64)
        # Differences, not |q|² + |r|² − 2q·r: a copied image is at distance 0 exactly.
        distances = torch.cdist(flat, chunk.reshape(chunk.shape[0], -1),
                                compute_mode="donot_use_mm_for_euclid_dist") / size ** 0.5
        indices = torch.arange(start, start + chunk.shape[0]).expand(flat.shape[0], -1)
        # The kept candidates precede the chunk and have lower indices: a stable sort keeps
        # every tie in index order.
        merged = torch.cat([best_distances, distances], dim=1)
        order = torch.sort(merged, dim=1, stable=True).indices[:, :k]
        best_distances = merged.gather(1, order)
        best_indices = torch.cat([best_indices, indices], dim=1).gather(1, order)
    return Neighbours(best_indices, best_distances)
