"""The peer libraries under our laws (specs/conformance.md, CONF-1 … CONF-6): every cell of the
matrix holds, or fails exactly where CONF-5 explains why.

CI runs a representative slice (a few configurations per library, seconds); the whole matrix runs
with ``--hypothesis-profile=thorough``. A peer that is not installed skips its cases with the
one-line message that says what to install.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from specdiff.testing.peers import LIBRARIES, PeerCase, peer_cases
from specdiff.testing.peers._imports import import_peer_modules

SPEC = Path(__file__).resolve().parents[2] / "specs" / "conformance.md"

# The slice CI runs: per library, configurations that pair with samplers of ours of each order
# (CONF-6) and kind (deterministic, stochastic), and divergences of each law.
SLICE = {
    "diffusers": [
        "EulerDiscreteScheduler(trailing)",
        "DDPMScheduler(clip_sample=False), 1000 steps",
        "PNDMScheduler(skip_prk_steps=True, set_alpha_to_one=True, v_prediction), v-model",
        "DPMSolverMultistepScheduler(leading)",
        "DPMSolverMultistepScheduler(use_karras_sigmas=True)",
        "DDPMScheduler(beta_schedule=\"sigmoid\", clip_sample=False)",
        "UniPCMultistepScheduler(trailing)",
    ],
    "k-diffusion": [
        "sample_euler_ancestral, σ at our timesteps",
        "sample_dpmpp_2m, σ at our timesteps",
    ],
    "denoising-diffusion-pytorch": [
        "GaussianDiffusion(beta_schedule=\"linear\", objective=\"pred_v\", sampling_timesteps=10, "
        "ddim_sampling_eta=0).sample",
        "GaussianDiffusion(beta_schedule=\"linear\", objective=\"pred_noise\", "
        "sampling_timesteps=30, ddim_sampling_eta=0).sample",
    ],
}


def cases_of(library: str) -> list[PeerCase]:
    try:
        return peer_cases(library)
    except ImportError as missing:
        pytest.skip(str(missing))


def assert_holds_except_where_explained(case: PeerCase) -> None:
    report = case.check()
    for check in report.checks:
        if check.law in case.explained:
            assert not check.holds, (f"{case.name}: {check.law} now holds, but CONF-5 says it "
                                     f"fails ({case.explained[check.law]}): {check.detail}")
        else:
            assert check.holds, f"{case.name}: {check.law} fails: {check.detail}"
    assert set(case.explained) <= {check.law for check in report.checks}


@pytest.mark.spec("CONF-1", "CONF-2", "CONF-3", "CONF-4", "CONF-5", "CONF-6")
@pytest.mark.parametrize("library, name", [(lib, name) for lib in SLICE for name in SLICE[lib]],
                         ids=[name for lib in SLICE for name in SLICE[lib]])
def test_the_slice_holds_where_our_laws_say(library: str, name: str) -> None:
    (case,) = [case for case in cases_of(library) if case.name == name]
    assert_holds_except_where_explained(case)


@pytest.mark.slow
@pytest.mark.spec("CONF-1", "CONF-2", "CONF-3", "CONF-4", "CONF-5", "CONF-6")
@pytest.mark.parametrize("library", list(LIBRARIES))
def test_the_whole_matrix_holds_where_our_laws_say(library: str) -> None:
    if settings.get_current_profile_name() != "thorough":
        pytest.skip("the whole matrix runs with --hypothesis-profile=thorough")
    for case in cases_of(library):
        assert_holds_except_where_explained(case)


@pytest.mark.parametrize("library", list(LIBRARIES))
def test_every_explained_failure_is_an_item_of_conf5(library: str) -> None:
    text = SPEC.read_text(encoding="utf-8")
    for case in cases_of(library):
        for law, item in case.explained.items():
            assert f"**{item}**" in text, f"{case.name}: {law} names {item!r}, not in {SPEC}"


def test_the_matrix_has_at_least_25_configurations_across_the_libraries() -> None:
    counts = {library: len(cases_of(library)) for library in LIBRARIES}
    assert sum(counts.values()) >= 25 and min(counts.values()) >= 5, counts


def test_a_missing_peer_is_one_line_naming_what_to_install() -> None:
    with pytest.raises(ImportError, match=r"^not_a_peer is not installed: pip install not-a-peer$"):
        import_peer_modules("not_a_peer", ("sampling",), "pip install not-a-peer")
    with pytest.raises(ValueError, match="library must be one of"):
        peer_cases("kdiffusion")


def test_a_missing_dependency_of_an_installed_peer_is_one_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cases_of("k-diffusion")  # skips when k-diffusion itself is missing
    monkeypatch.setitem(sys.modules, "torchsde", None)  # None in sys.modules: not importable
    uncached = import_peer_modules.__wrapped__  # type: ignore[attr-defined]
    with pytest.raises(ImportError, match=r"^k_diffusion needs torchsde: pip install it$"):
        uncached("k_diffusion", ("sampling",), "pip install it")
    assert not [name for name in sys.modules if name.startswith(("k_diffusion", "torchvision"))]


def test_importing_specdiff_testing_loads_no_peer() -> None:
    peers = ("diffusers", "k_diffusion", "denoising_diffusion_pytorch", "torchsde", "accelerate")
    completed = subprocess.run(
        [sys.executable, "-c", "import sys, specdiff.testing, specdiff.testing.peers; "
         f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({peers!r})))"],
        capture_output=True, text=True, timeout=300, check=True)
    assert completed.stdout.strip() == "[]"
