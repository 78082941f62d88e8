"""The items of specs/conformance.md, CONF-5: where a peer differs from our laws, and why. A
peer case names the item that explains each law failing there (``PeerCase.explained``); the
tests check that each named item is a bold title in CONF-5."""

STRIDE = "DDIM/PNDM step back by ⌊T/n⌋"
SIGMOID = "diffusers' \"sigmoid\" is another curve than SCHED-5"
PNDM_LAST_STEP = "PNDM's last step lands on ᾱ_0"
PNDM_V = "PNDM combines raw v outputs"
PNDM_ORDER = "PNDM converges at first order"
DPM_LEADING = "DPM-Solver \"leading\" uses ⌊T/(n+1)⌋"
KARRAS = "Karras σ stepped continuously"
FRACTIONAL = "k-diffusion's fractional timesteps"
LMS_LAST_STEP = "LMS extrapolates its last step"
TRUNCATED = "DDIM timesteps truncated, not rounded"
SD_BETAS = "Heun and KDPM2 default to Stable Diffusion's β range"
DEIS_LAST_STEP = "DEIS's last step lands on σ_0"
