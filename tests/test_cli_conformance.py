"""`specdiff conformance`: the peer matrix on the command line, and a missing peer as one line."""

import sys
from pathlib import Path

import pytest

from specdiff.cli import conformance as command
from specdiff.cli import main
from specdiff.testing import peers
from specdiff.testing.peers import denoising_diffusion_pytorch as ddpm_peer
from specdiff.testing.peers import k_diffusion as k_peer
from specdiff.testing.peers._imports import import_peer_modules

# Two of denoising-diffusion-pytorch's configurations: a deterministic one (CONF-1…4, 6) and the
# truncated spacing, which fails CONF-1 and CONF-3 (explained in CONF-5). A few seconds.
SLICE = [f"GaussianDiffusion(beta_schedule=\"linear\", objective=\"pred_noise\", "
         f"sampling_timesteps={steps}, ddim_sampling_eta=0).sample" for steps in (10, 30)]


def small_slice() -> list[peers.PeerCase]:
    return [case for case in ddpm_peer.cases() if case.name in SLICE]


def test_the_command_prints_and_writes_the_matrix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    try:
        small_slice()
    except ImportError as missing:
        pytest.skip(str(missing))
    monkeypatch.setitem(peers.LIBRARIES, "denoising-diffusion-pytorch", small_slice)
    report = tmp_path / "reports" / "report.md"
    assert main(["conformance", "--library", "denoising-diffusion-pytorch",
                 "--out", str(report)]) == 0
    printed = capsys.readouterr().out
    written = report.read_text(encoding="utf-8")
    assert printed == written + f"wrote {report}\n"
    summary, blank, header, _rule, *rows = written.splitlines()
    assert summary == ("2 configurations (denoising-diffusion-pytorch 2): of 10 cells, 8 hold, "
                       "0 do not apply and 2 fail, each explained in CONF-5.")
    assert blank == "" and header.count("| CONF-") == 5 and len(rows) == 2
    truncated = rows[1].split(" | ")
    assert truncated[3].startswith("fails (call 2: t = 965, ours 966) — CONF-5: DDIM timesteps "
                                   "truncated")
    assert truncated[5].startswith("fails (max deviation 2.3e-04)")
    assert truncated[4] == truncated[6] == truncated[7].rstrip(" |") == "holds"


def test_a_missing_peer_is_one_line_naming_what_to_install(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(k_peer, "import_peer_modules", import_peer_modules.__wrapped__)
    monkeypatch.setitem(sys.modules, "k_diffusion", None)  # as if it were not installed
    report = tmp_path / "report.md"
    assert main(["conformance", "--library", "k-diffusion", "--out", str(report)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"specdiff conformance: error: k_diffusion is not installed: "
                            f"{k_peer.INSTALL}\n")
    assert not report.exists()


def test_an_unknown_library_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", "--library", "kdiffusion"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("specdiff conformance: error: argument --library: invalid choice: "
                            "'kdiffusion'") and error.count("\n") == 1


def test_the_command_offers_every_library_of_the_kit() -> None:
    assert tuple(peers.LIBRARIES) == command.LIBRARIES
