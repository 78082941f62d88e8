"""Laws INTEROP-8, INTEROP-9 and INTEROP-12: runs exported as diffusers pipeline folders, loaded
by diffusers alone, and imported back (specs/interop.md).

Runs are made here from randomly initialized small U-Nets (every parameter random, so no output
is trivially zero); diffusers folders from randomly initialized UNet2DModels by save_pretrained.
Nothing is downloaded.
"""

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from specdiff.interop import diffusers_config_for, state_dict_from_diffusers
from specdiff.interop.pipeline_folder import (
    export_diffusers_pipeline,
    import_diffusers_pipeline,
)
from specdiff.nn import UNet, UNetConfig
from specdiff.testing import assert_close_to_spec
from specdiff.testing.nets import randomized_module, to_spec_array
from specdiff.train.checkpoint import read_checkpoint_info, save_checkpoint
from specdiff.train.models import build_schedule, model_record, schedule_record
from specdiff.train.run import load_for_sampling
from tests.interop.test_diffusers import DDPM_CIFAR10_CHECKPOINT_CONFIG, DDPM_CIFAR10_PARAMETERS

diffusers = pytest.importorskip("diffusers")

T = 10  # every run here: T = 10, so that DDPM runs all steps in a blink


def make_run(folder: Path, schedule: dict[str, Any], prediction_type: str = "epsilon",
             num_classes: int | None = None, seed: int = 0) -> UNet:
    """A run of unet-tiny on 1×8×8 images (the digits' shape) with random weights, model and EMA
    different; returns the EMA U-Net, whose weights export carries."""
    record = model_record("unet-tiny", (1, 8, 8), schedule["T"], num_classes)
    identity = {"model": record, "schedule": schedule, "data": "digits", "image_size": 8,
                "image_shape": [1, 8, 8], "prediction_type": prediction_type}
    config = UNetConfig(**{key: tuple(value) if isinstance(value, list) else value
                           for key, value in record["config"].items()})
    model = randomized_module(UNet(config), seed, torch.float32, "cpu")
    ema = randomized_module(UNet(config), seed + 1, torch.float32, "cpu")
    save_checkpoint(folder, 7, model=model, ema=ema, config=identity)
    return ema


def images(samples: torch.Tensor) -> np.ndarray:
    """What a diffusers pipeline returns with output_type="np" for samples in [-1, 1]."""
    result: np.ndarray = (samples / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return result


def saved_weights(checkpoint: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The model and EMA tensors a checkpoint holds (files read as they are)."""
    return (load_file(checkpoint / "model.safetensors"),
            load_file(checkpoint / "ema.safetensors"))


def check_imported_back(run: Path, imported: Path, ema: UNet) -> None:
    """INTEROP-12: the imported run has the run's U-Net config, schedule (β bit for bit),
    prediction type, image shape and data, and the run's EMA weights as model and EMA."""
    original, back = read_checkpoint_info(run), read_checkpoint_info(imported)
    assert back.step == 0
    assert back.config["model"]["name"] == "unet"
    assert back.config["model"]["config"] == original.config["model"]["config"]
    for key in ("prediction_type", "image_shape", "image_size", "data"):
        assert back.config[key] == original.config[key], key
    assert back.config["imported"]["format"] == "diffusers"
    assert torch.equal(build_schedule(back.config["schedule"]).betas,
                       build_schedule(original.config["schedule"]).betas)
    model, averaged = saved_weights(back.path)
    for key, value in ema.state_dict().items():
        assert torch.equal(model[key], value), key
        assert torch.equal(averaged[key], value), key


@pytest.mark.spec("INTEROP-8", "INTEROP-12")
def test_export_writes_a_folder_ddpm_pipeline_loads_with_the_runs_ema_weights(
    tmp_path: Path,
) -> None:
    ema = make_run(tmp_path / "run", schedule_record("sigmoid", T), "v_prediction",
                   num_classes=3)
    folder = export_diffusers_pipeline(tmp_path / "run", tmp_path / "pipeline")
    assert sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()
                  ) == ["model_index.json", "scheduler/scheduler_config.json", "unet/config.json",
                        "unet/diffusion_pytorch_model.safetensors"]
    pipeline = diffusers.DDPMPipeline.from_pretrained(folder)
    assert type(pipeline.scheduler).__name__ == "DDPMScheduler"
    assert pipeline.scheduler.config.prediction_type == "v_prediction"
    assert torch.equal(pipeline.scheduler.betas, build_schedule(
        schedule_record("sigmoid", T)).betas.float())
    # The EMA weights under diffusers' names (INTEROP-2), bit for bit.
    theirs = pipeline.unet.eval()
    exported = state_dict_from_diffusers(theirs, ema.config)
    assert exported.keys() == ema.state_dict().keys()
    for key, value in ema.state_dict().items():
        assert torch.equal(exported[key], value), key
    # Class rows: the 3 labels and our null class, which DDPMPipeline's caller names itself.
    assert theirs.config.num_class_embeds == 4
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([0, 9])
    with torch.no_grad():
        for ours_labels, their_labels in ((torch.tensor([2, 0]), torch.tensor([2, 0])),
                                          (None, torch.tensor([3, 3]))):
            assert_close_to_spec(theirs(x, t, class_labels=their_labels).sample,
                                 to_spec_array(ema(x, t, ours_labels)), "network",
                                 dtype="float32")
    back = import_diffusers_pipeline(folder, tmp_path / "back", data="digits")
    check_imported_back(tmp_path / "run", back, ema)


# (schedule, prediction type): named, trained_betas, and zero terminal SNR (trailing DDIM).
SCHEDULES = {
    "linear, eps": (schedule_record("linear", T), "epsilon"),
    "cosine s=0.02, x0": (schedule_record("cosine", T, s=0.02), "sample"),
    "linear zero-SNR, v": (schedule_record("linear", T, zero_terminal_snr=True), "v_prediction"),
}


@pytest.mark.spec("INTEROP-9", "INTEROP-12")
@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_the_exported_pipeline_samples_what_specdiff_sample_samples(tmp_path: Path,
                                                                    name: str) -> None:
    schedule, prediction_type = SCHEDULES[name]
    ema = make_run(tmp_path / "run", schedule, prediction_type)
    folder = export_diffusers_pipeline(tmp_path / "run", tmp_path / "pipeline")
    ours = load_for_sampling(tmp_path / "run").diffusion
    pipeline = diffusers.DDPMPipeline.from_pretrained(folder)
    pipeline.set_progress_bar_config(disable=True)
    if not ours.schedule.has_zero_terminal_snr:  # specdiff's DDPM refuses it (INTEROP-9)
        theirs = pipeline(batch_size=2, generator=torch.Generator().manual_seed(3),
                          num_inference_steps=T, output_type="np").images
        expected = images(ours.generate((2, 1, 8, 8), sampler="ddpm", seed=3))
        assert_close_to_spec(theirs, expected, "network", dtype="float32")
    ddim = diffusers.DDIMPipeline(unet=pipeline.unet, scheduler=pipeline.scheduler)
    ddim.set_progress_bar_config(disable=True)
    theirs = ddim(batch_size=2, generator=torch.Generator().manual_seed(4), eta=0.0,
                  num_inference_steps=5, output_type="np").images
    expected = images(ours.generate((2, 1, 8, 8), sampler="ddim", steps=5, seed=4))
    assert_close_to_spec(theirs, expected, "network", dtype="float32")
    back = import_diffusers_pipeline(folder, tmp_path / "back", data="digits")
    check_imported_back(tmp_path / "run", back, ema)


@pytest.mark.spec("INTEROP-12")
@pytest.mark.parametrize("config", [
    dataclasses.replace(UNetConfig.tiny(), downsample_padding="bottom_right", dropout=0.1),
    dataclasses.replace(UNetConfig.digits_large(), num_classes=3, attention_heads=2),
], ids=["tiny, TF padding", "digits, classes, two heads"])
def test_a_folder_saved_by_diffusers_imports_as_a_run_computing_its_function(
    tmp_path: Path, config: UNetConfig,
) -> None:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        theirs = diffusers.UNet2DModel(**diffusers_config_for(config))
        for parameter in theirs.parameters():  # diffusers zero-initializes some layers
            parameter.data.normal_(0.0, 0.2)
    scheduler = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule="squaredcos_cap_v2")
    diffusers.DDPMPipeline(unet=theirs, scheduler=scheduler).save_pretrained(tmp_path / "saved")
    run = load_for_sampling(import_diffusers_pipeline(tmp_path / "saved", tmp_path / "run"))
    assert run.config["schedule"] == {"kind": "cosine", "T": T}
    assert run.config["data"] == "none"
    ours = run.diffusion.model
    assert ours.config == dataclasses.replace(config, num_timesteps=T)
    x, t = torch.randn(2, config.data_channels, 8, 8), torch.tensor([1, 8])
    labels = None if config.num_classes is None else torch.tensor([0, 3])
    with torch.no_grad():
        assert_close_to_spec(ours(x, t, labels), to_spec_array(
            theirs.eval()(x, t, class_labels=labels).sample), "network", dtype="float32")


@pytest.mark.slow
@pytest.mark.spec("INTEROP-12")
def test_a_ddpm_cifar10_layout_folder_imports_with_its_weights(tmp_path: Path) -> None:
    """A folder like google/ddpm-cifar10-32's (its released configs, diffusers' random weights):
    35.7M parameters carried bit for bit; its fixed_large variance is a sampler setting."""
    released = {key: value for key, value in DDPM_CIFAR10_CHECKPOINT_CONFIG.items()
                if not key.startswith("_")}
    with torch.random.fork_rng():
        torch.manual_seed(0)
        theirs = diffusers.UNet2DModel(**released)
    scheduler = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_start=0.0001,
                                        beta_end=0.02, beta_schedule="linear",
                                        variance_type="fixed_large", clip_sample=True)
    diffusers.DDPMPipeline(unet=theirs, scheduler=scheduler).save_pretrained(tmp_path / "ddpm")
    run = import_diffusers_pipeline(tmp_path / "ddpm", tmp_path / "run")
    info = read_checkpoint_info(run)
    assert info.config["schedule"] == {"kind": "linear", "T": 1000, "beta_start": 0.0001,
                                       "beta_end": 0.02}
    assert info.config["model"]["config"]["downsample_padding"] == "bottom_right"
    model, _ = saved_weights(info.path)
    expected = state_dict_from_diffusers(theirs, UNetConfig.ddpm_cifar10())
    assert sum(value.numel() for value in model.values()) == DDPM_CIFAR10_PARAMETERS
    for key, value in expected.items():
        assert torch.equal(model[key], value), key
