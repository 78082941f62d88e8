"""DATA-6, DATA-7: the horizontal flip and its seeded random version."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from specdiff.data import horizontal_flip, random_horizontal_flip

batches = st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 4), st.integers(1, 5)
                    ).flatmap(lambda shape: st.tuples(
                        hnp.arrays(np.uint8, shape),
                        hnp.arrays(np.bool_, shape[0])))


@pytest.mark.spec("DATA-6")
@given(batches)
def test_flip_mirrors_the_chosen_images_and_keeps_the_others(batch: tuple) -> None:
    images, flip = batch
    out = horizontal_flip(torch.from_numpy(images), torch.from_numpy(flip)).numpy()
    for index in range(len(images)):
        expected = images[index, :, :, ::-1] if flip[index] else images[index]
        np.testing.assert_array_equal(out[index], expected)


@pytest.mark.spec("DATA-6")
@given(batches)
def test_flip_is_an_involution(batch: tuple) -> None:
    images, flip = (torch.from_numpy(array) for array in batch)
    as_float = images.float() / 127.5 - 1
    for x in (images, as_float):
        assert torch.equal(horizontal_flip(horizontal_flip(x, flip), flip), x)


@pytest.mark.spec("DATA-7")
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 1.0))
def test_random_flip_depends_only_on_the_generator_state(seed: int, probability: float) -> None:
    images = torch.arange(2 * 8 * 1 * 1 * 3, dtype=torch.float32).reshape(16, 1, 1, 3)
    global_state = torch.get_rng_state()
    first = random_horizontal_flip(images, torch.Generator().manual_seed(seed), probability)
    second = random_horizontal_flip(images, torch.Generator().manual_seed(seed), probability)
    assert torch.equal(first, second)
    uniform = torch.rand(16, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(first, horizontal_flip(images, uniform < probability))
    assert torch.equal(torch.get_rng_state(), global_state)


@pytest.mark.spec("DATA-7")
def test_random_flip_probability_edges() -> None:
    images = torch.arange(4 * 6, dtype=torch.float32).reshape(4, 1, 2, 3)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(random_horizontal_flip(images, generator, 0.0), images)
    assert torch.equal(random_horizontal_flip(images, generator, 1.0), images.flip(-1))
    with pytest.raises(ValueError, match=r"probability must be in \[0.0, 1.0\]"):
        random_horizontal_flip(images, generator, 1.5)
