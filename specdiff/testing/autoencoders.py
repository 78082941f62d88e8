"""Public strategies for the KL autoencoder (specs/latent.md): configs and inputs it accepts."""

from hypothesis import strategies as st

from specdiff.nn.autoencoder_config import AutoencoderConfig

# Log-variance clamps drawn by ``autoencoder_configs``: the default, and one narrow enough that
# random weights (logvar of order 1) hit both of its ends.
LOGVAR_CLAMPS = ((-30.0, 20.0), (-0.5, 0.5))


@st.composite
def autoencoder_configs(draw: st.DrawFn) -> AutoencoderConfig:
    """Tiny ``AutoencoderConfig`` s (one or two levels, f = 1 or 2) that still vary every layout
    choice: widths, res blocks per level, latent and data channels, norm groups from 1 to the
    width, and a log-variance clamp that is active or not."""
    levels = draw(st.integers(1, 2))
    base_channels = draw(st.sampled_from([2, 4]))
    logvar_min, logvar_max = draw(st.sampled_from(LOGVAR_CLAMPS))
    return AutoencoderConfig(
        data_channels=draw(st.integers(1, 3)),
        base_channels=base_channels,
        channel_mults=(1, 2)[:levels],
        num_res_blocks=draw(st.integers(1, 2)),
        latent_channels=draw(st.integers(1, 3)),
        norm_groups=draw(st.sampled_from([g for g in (1, 2, 4) if base_channels % g == 0])),
        logvar_min=logvar_min,
        logvar_max=logvar_max,
    )


def autoencoder_image_shapes(config: AutoencoderConfig, max_batch: int = 2
                 ) -> st.SearchStrategy[tuple[int, int, int, int]]:
    """(batch, data_channels, H, W) with H, W = f·(2 or 3): multiples of the downsampling factor
    whose latents have more than one position, which torch's GroupNorm needs at width 1 a group.
    """
    factor = config.downsampling_factor
    sides = st.sampled_from([2 * factor, 3 * factor])
    return st.tuples(st.integers(1, max_batch), st.just(config.data_channels), sides, sides)


def autoencoder_configs_with_image_shapes(
) -> st.SearchStrategy[tuple[AutoencoderConfig, tuple[int, int, int, int]]]:
    """(config, image shape the config accepts): ``autoencoder_configs`` with
    ``autoencoder_image_shapes``."""
    return autoencoder_configs().flatmap(
        lambda config: st.tuples(st.just(config), autoencoder_image_shapes(config)))
