"""Nearest training neighbours (DATA-10): the k smallest RMS distances, ties by index."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from specdiff.evaluation import neighbours
from specdiff.evaluation.neighbours import nearest_neighbours
from specdiff.testing import assert_close_to_spec, image_batches


def brute_force_distances(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """d(q, r) = √(mean((q − x_r)²)), x_r = r/127.5 − 1 rounded to float32 as DATA-1 reads it."""
    x = (references.astype(np.float32) / np.float32(127.5) - np.float32(1.0)).astype(np.float64)
    differences = queries[:, None] - x[None]
    return np.sqrt((differences ** 2).reshape(len(queries), len(references), -1).mean(axis=2))


@pytest.mark.spec("DATA-10")
@given(data=st.data())
def test_nearest_neighbours_are_the_k_smallest_distances(data: st.DataObject) -> None:
    count = data.draw(st.integers(1, 9), label="references")
    references = data.draw(hnp.arrays(np.uint8, (count, 1, 2, 2),
                                       elements=st.sampled_from([0, 1, 127, 128, 255])))
    queries = data.draw(image_batches((data.draw(st.integers(1, 3)), 1, 2, 2)))
    k = data.draw(st.integers(1, count), label="k")
    found = nearest_neighbours(torch.from_numpy(queries), torch.from_numpy(references), k)
    expected = brute_force_distances(queries, references)
    assert found.indices.shape == (len(queries), k)
    # The distances of the indices returned are theirs, and they are the k smallest, in order.
    assert_close_to_spec(found.distances,
                         np.take_along_axis(expected, found.indices.numpy(), 1), "reduction")
    assert_close_to_spec(found.distances, np.sort(expected, axis=1)[:, :k], "reduction")


@pytest.mark.spec("DATA-10")
def test_a_copy_is_at_distance_zero_and_ties_go_to_the_lower_index(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(neighbours, "CHUNK", 2)  # ties across chunk boundaries too
    pixels = torch.randint(0, 256, (3, 3, 8, 8), generator=torch.Generator().manual_seed(0),
                           dtype=torch.uint8)
    # References 0, 2 and 4 are one image; 1 and 3 two others.
    references = pixels[[0, 1, 0, 2, 0]]
    copies = pixels[[1, 0]].float() / 127.5 - 1.0
    found = nearest_neighbours(copies, references, 4)
    assert found.indices[0, 0] == 1 and found.distances[0, 0] == 0.0
    assert found.indices[1].tolist()[:3] == [0, 2, 4]
    assert found.distances[1, :3].tolist() == [0.0, 0.0, 0.0]


@pytest.mark.spec("DATA-10")
def test_nearest_neighbours_refuses_bad_arguments() -> None:
    references = torch.zeros((3, 1, 2, 2), dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"k must be in \[1, 3\]"):
        nearest_neighbours(torch.zeros((1, 1, 2, 2)), references, 4)
    with pytest.raises(ValueError, match="queries must have the references' image shape"):
        nearest_neighbours(torch.zeros((1, 1, 2, 3)), references, 1)
    with pytest.raises(ValueError, match="queries"):
        nearest_neighbours(torch.full((1, 1, 2, 2), float("nan")), references, 1)
