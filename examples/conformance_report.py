"""The conformance matrix: which of our laws each peer library's sampler satisfies.

    python examples/conformance_report.py [diffusers|k-diffusion|denoising-diffusion-pytorch|all]

Prints the README's table (Markdown): one row per peer configuration, one column per law
(specs/conformance.md): CONF-1 the model is called at our law's timesteps, CONF-2 a seed
reproduces a run, CONF-3 a deterministic sampler follows our spec chain from the same x_T, CONF-4
the Gaussian-oracle moments match our exact law (k = 6). "—": the law does not apply (stochastic
samplers have no fixed path; samplers with no law of ours yet are checked for CONF-2). Each
failing cell names the item of CONF-5 that explains it. Needs the peers: diffusers (the interop
extra), k-diffusion and denoising-diffusion-pytorch (README, "Dependencies").
"""

import sys

from specdiff.testing.peers import conformance_matrix, peer_cases, render_matrix


def main() -> None:
    library = sys.argv[1] if len(sys.argv) > 1 else "all"
    try:
        cases = peer_cases(library)
    except (ImportError, ValueError) as error:
        sys.exit(f"conformance_report: error: {error}")
    print(render_matrix(conformance_matrix(cases)), end="")


if __name__ == "__main__":
    main()
