"""Laws INTEROP-4 … INTEROP-7: our schedules, steps and samplers against diffusers' DDPMScheduler
and DDIMScheduler (specs/interop.md).

The step laws compare formulas: diffusers' float32 ᾱ table is replaced by ours (float64), the
table difference being INTEROP-4's subject.
"""

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from specdiff.diffusion import NoiseSchedule, ddim_step, ddpm_step, sample_ddim, sample_ddpm
from specdiff.spec.timesteps import ddim_timesteps
from specdiff.testing import assert_close_to_spec

diffusers = pytest.importorskip("diffusers")

seeds = st.integers(0, 2**32 - 1)
spacings = st.sampled_from(["leading", "trailing", "linspace"])
SHAPE = (2, 1, 3, 3)


def with_our_table(scheduler: Any, schedule: NoiseSchedule) -> Any:
    """``scheduler`` computing with our float64 ᾱ instead of its float32 one."""
    scheduler.alphas_cumprod = schedule.alpha_bars.clone()
    return scheduler


def normal(seed: int, scale: float = 1.0) -> torch.Tensor:
    values: np.ndarray = np.random.default_rng(seed).normal(scale=scale, size=SHAPE)
    tensor: torch.Tensor = torch.as_tensor(values)
    return tensor


def step_scale(alpha_bar: float, x: torch.Tensor, eps_hat: torch.Tensor) -> torch.Tensor:
    """REV-1's scale: predicting x0 divides by √ᾱ, amplifying the inputs' rounding."""
    return 1.0 + (x.abs() + eps_hat.abs()) / math.sqrt(alpha_bar)


def toy_eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A deterministic stand-in for a model, large enough that clipping x̂0 happens."""
    return torch.sin(2.0 * x + t[:, None, None, None].to(x.dtype) / 37.0) * 1.5


@pytest.mark.spec("INTEROP-4")
@pytest.mark.parametrize("T", [2, 50, 1000])
def test_schedule_tables_agree_to_float32_rounding(T: int) -> None:
    for beta_schedule, ours in (("linear", NoiseSchedule.linear(T)),
                                ("squaredcos_cap_v2", NoiseSchedule.cosine(T))):
        theirs = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule=beta_schedule)
        assert_close_to_spec(theirs.betas, ours.betas, "elementwise")
        assert_close_to_spec(theirs.alphas_cumprod, ours.alpha_bars, "reduction")


@pytest.mark.spec("INTEROP-5")
@given(st.sampled_from([10, 1000]).flatmap(lambda T: st.tuples(st.just(T), st.integers(1, T))),
       spacings, st.sampled_from([0.0, 0.5, 1.0]), st.booleans(), st.integers(0, 10**6), seeds)
def test_ddim_step_is_diffusers_step(steps: tuple[int, int], spacing: str, eta: float,
                                     clip: bool, index: int, seed: int) -> None:
    T, n = steps
    schedule = NoiseSchedule.linear(T)
    scheduler = with_our_table(diffusers.DDIMScheduler(
        num_train_timesteps=T, clip_sample=clip, set_alpha_to_one=True,
        timestep_spacing=spacing), schedule)
    scheduler.set_timesteps(n)
    visited = [int(t) for t in scheduler.timesteps if t >= 0]  # trailing can hold −1 (item 8)
    t = visited[index % len(visited)]
    previous = t - T // n
    alpha_bars = schedule.alpha_bars.tolist()
    alpha_bar_prev = alpha_bars[previous] if previous >= 0 else 1.0
    x, eps_hat, z = normal(seed, 2.0), normal(seed + 1, 1.5), normal(seed + 2)
    theirs = scheduler.step(eps_hat, t, x, eta=eta, variance_noise=z).prev_sample
    ours = ddim_step(alpha_bar_prev, alpha_bars[t], x, eps_hat, eta, z, clip)
    assert_close_to_spec(ours, theirs, "elementwise", scale=step_scale(alpha_bars[t], x, eps_hat))


def diffusers_timesteps(T: int, n: int, spacing: str) -> list[int]:
    scheduler = diffusers.DDIMScheduler(num_train_timesteps=T, timestep_spacing=spacing)
    scheduler.set_timesteps(n)
    return [int(t) for t in scheduler.timesteps]


def has_exact_half(T: int, n: int, spacing: str) -> bool:
    """Whether TS-1's rounding meets an odd multiple of ½, where half-up ≠ half-to-even."""
    if spacing == "trailing":
        values = [Fraction((k + 1) * T, n) for k in range(n)]
    elif spacing == "linspace" and n > 1:
        values = [Fraction(k * (T - 1), n - 1) for k in range(n)]
    else:
        return False
    return any(value.denominator == 2 for value in values)


@pytest.mark.spec("INTEROP-6")
def test_visited_timesteps_agree_except_at_halves_and_the_trailing_bug() -> None:
    rounding_differences, too_long = 0, 0
    for T in range(1, 41):
        for n in range(1, T + 1):
            for spacing in ("leading", "trailing", "linspace"):
                ours = ddim_timesteps(T, n, spacing).tolist()
                theirs = diffusers_timesteps(T, n, spacing)
                if len(theirs) != n:
                    too_long += 1
                    assert spacing == "trailing" and len(theirs) == n + 1 and theirs[-1] == -1
                elif has_exact_half(T, n, spacing):
                    rounding_differences += ours != theirs
                else:
                    assert ours == theirs, (T, n, spacing)
    # Both differences exist (so the exceptions above are not vacuous): interop.md, items 7, 8.
    assert rounding_differences > 0 and too_long > 0
    assert diffusers_timesteps(15, 13, "trailing")[-3:] == [1, 0, -1]


def our_landings(T: int, n: int, spacing: str) -> list[int]:
    """The timestep each step lands on (SAMP-2), −1 for ᾱ = 1 after the last."""
    visited = ddim_timesteps(T, n, spacing).tolist()  # type: ignore[arg-type]
    return [*visited[1:], -1]


def their_landings(T: int, n: int, spacing: str) -> list[int]:
    return [max(t - T // n, -1) for t in diffusers_timesteps(T, n, spacing)]


@pytest.mark.spec("INTEROP-6")
def test_landing_timesteps_agree_for_leading_trailing_dividing_and_trivial_linspace() -> None:
    for T in range(1, 41):
        for n in range(1, T + 1):
            assert our_landings(T, n, "leading") == their_landings(T, n, "leading")
            if T % n == 0:
                assert our_landings(T, n, "trailing") == their_landings(T, n, "trailing")
            linspace_agrees = our_landings(T, n, "linspace") == their_landings(T, n, "linspace")
            # For 1 < n < T only a rounding coincidence at a half can close the stride gap.
            assert linspace_agrees if n in (1, T) else (
                not linspace_agrees or has_exact_half(T, n, "linspace")), (T, n)
    for n in (10, 20, 50, 100, 250, 500):
        assert our_landings(1000, n, "linspace") != their_landings(1000, n, "linspace")
    # interop.md, item 6: diffusers' first step from 999 lands on 899, ours on 888.
    assert (their_landings(1000, 10, "linspace")[0], our_landings(1000, 10, "linspace")[0]) \
        == (899, 888)


@pytest.mark.spec("INTEROP-6")
@pytest.mark.parametrize(("T", "n", "spacing"), [(100, 10, "leading"), (100, 7, "leading"),
                                                 (100, 20, "trailing"), (20, 20, "linspace")])
@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("clip", [True, False])
def test_sample_ddim_is_diffusers_ddim_loop(T: int, n: int, spacing: str, eta: float,
                                            clip: bool) -> None:
    schedule = NoiseSchedule.linear(T, 1e-3, 0.2)
    scheduler = with_our_table(diffusers.DDIMScheduler(
        num_train_timesteps=T, clip_sample=clip, set_alpha_to_one=True,
        timestep_spacing=spacing), schedule)
    scheduler.set_timesteps(n)
    generator = torch.Generator().manual_seed(7)
    x = torch.randn(SHAPE, generator=generator, dtype=torch.float64)
    for t in scheduler.timesteps:
        eps_hat = toy_eps(x, t.repeat(SHAPE[0]))
        last = t - T // n < 0  # lands on ᾱ = 1: σ = 0, no draw (SAMP-3)
        z = (torch.randn(SHAPE, generator=generator, dtype=torch.float64)
             if eta > 0 and not last else None)
        x = scheduler.step(eps_hat, t, x, eta=eta, variance_noise=z).prev_sample
    ours = sample_ddim(toy_eps, schedule, SHAPE, steps=n, eta=eta, spacing=spacing,  # type: ignore[arg-type]
                       generator=torch.Generator().manual_seed(7), clip=clip,
                       dtype=torch.float64)
    assert_close_to_spec(ours, x, "network")


@pytest.mark.spec("INTEROP-7")
@given(st.sampled_from([2, 10, 1000]).flatmap(
           lambda T: st.tuples(st.just(T), st.integers(0, T - 1))),
       st.sampled_from(["fixed_small", "fixed_large"]), st.booleans(), seeds)
def test_ddpm_step_is_diffusers_step(step: tuple[int, int], variance: str, clip: bool,
                                     seed: int) -> None:
    T, t = step
    schedule = NoiseSchedule.linear(T)
    scheduler = with_our_table(diffusers.DDPMScheduler(
        num_train_timesteps=T, variance_type=variance, clip_sample=clip), schedule)
    x, eps_hat = normal(seed, 2.0), normal(seed + 1, 1.5)
    theirs = scheduler.step(eps_hat, t, x, generator=torch.Generator().manual_seed(seed))
    z = (torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
         if t > 0 else torch.zeros(SHAPE, dtype=torch.float64))
    ours = ddpm_step(schedule.alpha_bars, t, x, eps_hat, z, clip, variance)  # type: ignore[arg-type]
    scale = step_scale(schedule.alpha_bars[t].item(), x, eps_hat)
    assert_close_to_spec(ours, theirs.prev_sample, "elementwise", scale=scale)


@pytest.mark.spec("INTEROP-7")
@given(st.integers(1, 20), st.integers(0, 10**6), st.sampled_from(["fixed_small", "fixed_large"]),
       st.booleans(), seeds)
def test_strided_ddpm_step_is_a_step_of_the_subsampled_schedule(
    n: int, index: int, variance: str, clip: bool, seed: int
) -> None:
    T = 1000
    schedule = NoiseSchedule.linear(T)
    scheduler = with_our_table(diffusers.DDPMScheduler(
        num_train_timesteps=T, variance_type=variance, clip_sample=clip), schedule)
    scheduler.set_timesteps(n)
    ascending = scheduler.timesteps.flip(0)
    i = index % n
    x, eps_hat = normal(seed, 2.0), normal(seed + 1, 1.5)
    theirs = scheduler.step(eps_hat, int(ascending[i]), x,
                            generator=torch.Generator().manual_seed(seed))
    z = torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    subsampled = schedule.alpha_bars[ascending]
    ours = ddpm_step(subsampled, i, x, eps_hat, z, clip, variance)  # type: ignore[arg-type]
    scale = step_scale(subsampled[i].item(), x, eps_hat)
    assert_close_to_spec(ours, theirs.prev_sample, "elementwise", scale=scale)


@pytest.mark.spec("INTEROP-7")
@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
@pytest.mark.parametrize("clip", [True, False])
def test_sample_ddpm_is_diffusers_ddpm_loop(variance: str, clip: bool) -> None:
    T = 50
    schedule = NoiseSchedule.linear(T, 1e-3, 0.2)
    scheduler = with_our_table(diffusers.DDPMScheduler(
        num_train_timesteps=T, variance_type=variance, clip_sample=clip), schedule)
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(SHAPE, generator=generator, dtype=torch.float64)
    for t in reversed(range(T)):  # diffusers draws z from the generator only when t > 0
        x = scheduler.step(toy_eps(x, torch.full((SHAPE[0],), t)), t, x,
                           generator=generator).prev_sample
    ours = sample_ddpm(toy_eps, schedule, SHAPE, generator=torch.Generator().manual_seed(3),
                       clip=clip, variance=variance, dtype=torch.float64)  # type: ignore[arg-type]
    assert_close_to_spec(ours, x, "network")
