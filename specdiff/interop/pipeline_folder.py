"""A run as a diffusers pipeline folder, and a pipeline folder as a run (specs/interop.md,
INTEROP-8 … INTEROP-12).

- :func:`export_diffusers_pipeline` writes what ``DDPMPipeline.from_pretrained`` loads with no
  code of specdiff: ``model_index.json``, ``unet/`` (``config.json`` and the run's EMA weights as
  ``diffusion_pytorch_model.safetensors``) and ``scheduler/`` (a ``DDPMScheduler`` config whose
  β are the run's: ``specdiff.interop.diffusers_scheduler``).
- :func:`import_diffusers_pipeline` reads such a folder (or a bare model folder with a schedule
  given) and writes a run folder: one checkpoint, step 0, holding the U-Net's weights as model and
  EMA, and the identity (model, schedule, prediction type, image shape) that ``specdiff sample``,
  ``evaluate``, ``inpaint`` and ``train --resume`` read, marked ``imported``.

Both check everything before they write, and write atomically (``write_folder_atomically``):
nothing is at ``out`` after a failure, and an existing ``out`` that is not an empty folder is
refused. diffusers is needed for both (``pip install specdiff[interop]``): export saves with it,
and import fills in the defaults of the diffusers installed, as ``from_pretrained`` would.
"""

import inspect
import io
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load

from specdiff._atomic import require_new_folder, write_folder_atomically
from specdiff.diffusion import Diffusion
from specdiff.interop.diffusers import (
    import_diffusers,
    state_dict_from_diffusers,
    unet_config_from_diffusers,
    unet_to_diffusers,
)
from specdiff.interop.diffusers_scheduler import (
    SCHEDULE_KEY,
    sampling_differences,
    schedule_from_scheduler_config,
    scheduler_config_for,
)
from specdiff.nn import UNet, UNetConfig
from specdiff.spec.parameterization import PredictionType, require_prediction_type
from specdiff.train.checkpoint import save_checkpoint
from specdiff.train.models import RECORDED_MODELS, build_schedule, imported_unet_record
from specdiff.train.run import load_for_sampling
from specdiff.train.run_folder import warn

MODEL_INDEX = "model_index.json"
MODEL_CONFIG = "config.json"
SCHEDULER_CONFIG = "scheduler_config.json"
WEIGHTS = "diffusion_pytorch_model.safetensors"
PICKLED_WEIGHTS = "diffusion_pytorch_model.bin"  # older releases; read with weights_only
SCHEDULERS = ("DDPMScheduler", "DDIMScheduler")  # same β and prediction settings
UNET_COMPONENT = ["diffusers", "UNet2DModel"]
# What an imported run records as its data when none is given: sample and inpaint need none;
# evaluate and fine-tuning need the data, from `import --data` and `train --data`.
NO_DATA = "none"
UNET_MODELS = [name for name, (module, _) in RECORDED_MODELS.items() if module is UNet]


def export_diffusers_pipeline(run_dir: str | os.PathLike[str], out: str | os.PathLike[str]
                              ) -> Path:
    """INTEROP-8: the run's newest usable checkpoint as a ``DDPMPipeline`` folder ``out``: the
    EMA U-Net under ``diffusers_config_for`` (INTEROP-1) and ``scheduler_config_for`` the run's
    schedule and prediction type. A model diffusers cannot compute is refused by name."""
    out = require_new_folder(out)
    diffusers = import_diffusers("exporting a diffusers pipeline")
    run = load_for_sampling(Path(run_dir), "cpu")
    name, model = run.config["model"]["name"], run.diffusion.model
    if not isinstance(model, UNet):
        raise ValueError(
            f"run {run_dir} has model {name!r}, which diffusers' UNet2DModel does not compute: "
            f"export takes runs of the U-Nets {sorted(UNET_MODELS)}"
            + (" — a super-resolution model also reads a low-resolution image, which "
               "DDPMPipeline cannot give it" if name.startswith("sr-") else ""))
    scheduler = diffusers.DDPMScheduler(
        **scheduler_config_for(run.config["schedule"], run.diffusion.prediction_type))
    pipeline = diffusers.DDPMPipeline(unet=unet_to_diffusers(model), scheduler=scheduler)
    return write_folder_atomically(
        out, lambda folder: pipeline.save_pretrained(folder, safe_serialization=True))


def import_diffusers_pipeline(
    folder: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    schedule: Mapping[str, Any] | None = None,
    prediction_type: PredictionType | None = None,
    data: str | None = None,
) -> Path:
    """INTEROP-10, INTEROP-11: the diffusers pipeline ``folder`` (model_index.json, unet/,
    scheduler/) as the run folder ``out``; a bare model folder (config.json and weights) needs
    ``schedule`` (a ``schedule_record``) and takes ``prediction_type`` (default epsilon).
    ``data`` is what ``evaluate`` measures the run on. A ValueError naming the file and the key
    for anything our U-Net and schedules do not represent, with nothing written."""
    source, out = Path(folder), require_new_folder(out)
    _require_folder(source)
    if os.path.lexists(source / MODEL_INDEX):
        if schedule is not None or prediction_type is not None:
            raise ValueError(f"{source} is a pipeline folder: its scheduler/ sets the schedule "
                             f"and the prediction type; give a schedule only with a bare model "
                             f"folder")
        _check_components(source / MODEL_INDEX)
        unet_folder = source / "unet"
        record, kind, notes = _scheduler(source / "scheduler")
    elif os.path.lexists(source / MODEL_CONFIG):
        if schedule is None:
            raise ValueError(f"{source} is a bare model folder (no {MODEL_INDEX}): give the "
                             f"schedule it was trained with (--schedule)")
        unet_folder, record, kind, notes = source, dict(schedule), prediction_type or "epsilon", ""
        require_prediction_type(kind)
    else:
        hint = (f"; for its unet/ alone, give {source / 'unet'} and --schedule"
                if os.path.lexists(source / "unet" / MODEL_CONFIG) else "")
        raise ValueError(f"{source}: neither a pipeline folder ({MODEL_INDEX} is missing) nor a "
                         f"model folder ({MODEL_CONFIG} is missing){hint}")
    table = build_schedule(record)
    config, state = _unet(unet_folder, table.num_timesteps)
    with torch.device("meta"):  # checks the prediction type against the schedule, no weights
        Diffusion(UNet(config), table, prediction_type=kind)
    identity = {
        "model": imported_unet_record(config), "schedule": record, "data": data or NO_DATA,
        "image_size": config.image_size,
        "image_shape": [config.data_channels, config.image_size, config.image_size],
        "prediction_type": kind,
        "imported": {"format": "diffusers", "from": str(source.resolve())},
    }
    if notes:  # said once everything is checked, so that a refusal stays one line
        warn(notes)
    return write_folder_atomically(out, lambda run: save_checkpoint(
        run, 0, model=state, ema=state, config=identity, keep=None))


def _check_components(path: Path) -> None:
    """A pipeline's model_index.json names a U-Net and a DDPM/DDIM scheduler, nothing else."""
    index = _json_object(path)
    components = {key: value for key, value in index.items() if not key.startswith("_")}
    if set(components) != {"unet", "scheduler"}:
        raise ValueError(f"{path}: components {sorted(components)}: specdiff imports pipelines "
                         f"of a unet and a scheduler (DDPMPipeline, DDIMPipeline)")
    if components["unet"] != UNET_COMPONENT:
        raise ValueError(f"{path}: unet = {components['unet']!r:.80} must be {UNET_COMPONENT}")
    scheduler = components["scheduler"]
    if not (isinstance(scheduler, list) and len(scheduler) == 2 and scheduler[0] == "diffusers"
            and scheduler[1] in SCHEDULERS):
        raise ValueError(f"{path}: scheduler = {scheduler!r:.80} must be ['diffusers', NAME] "
                         f"with NAME in {list(SCHEDULERS)}")


def _scheduler(folder: Path) -> tuple[dict[str, Any], PredictionType, str]:
    """INTEROP-11: the schedule record and prediction type of ``folder``/scheduler_config.json,
    and a note naming its sampling settings that specdiff's samplers do not share ("" if
    none)."""
    path = folder / SCHEDULER_CONFIG
    written = _json_object(path)
    class_name = written.get("_class_name", "DDPMScheduler")
    if class_name not in SCHEDULERS:
        raise ValueError(f"{path}: _class_name = {class_name!r:.60} must be one of "
                         f"{list(SCHEDULERS)}")
    scheduler_class = getattr(import_diffusers("importing a diffusers pipeline"), class_name)
    config = {**_with_defaults(written, scheduler_class), SCHEDULE_KEY: written.get(SCHEDULE_KEY)}
    try:
        record, prediction_type = schedule_from_scheduler_config(config)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    different = sampling_differences(config, build_schedule(record).has_zero_terminal_snr)
    notes = (f"{path}: {'; '.join(different)}: sampler settings, not part of the model; "
             f"specdiff's samplers use their own") if different else ""
    return record, prediction_type, notes


def _unet(folder: Path, num_timesteps: int) -> tuple[UNetConfig, dict[str, torch.Tensor]]:
    """INTEROP-10: the UNetConfig of ``folder``/config.json and our state dict of its weights
    (float32), every key and shape checked."""
    _require_folder(folder)
    path = folder / MODEL_CONFIG
    written = _json_object(path)
    if written.get("_class_name", "UNet2DModel") != "UNet2DModel":
        raise ValueError(f"{path}: _class_name = {written['_class_name']!r:.60} must be "
                         f"'UNet2DModel'")
    model_class = import_diffusers("importing a diffusers pipeline").UNet2DModel
    try:
        config = unet_config_from_diffusers(_with_defaults(written, model_class), num_timesteps)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    weights_path, tensors = _weights(folder)
    for key, tensor in tensors.items():
        if not tensor.is_floating_point():
            raise ValueError(f"{weights_path}: {key} must hold floats, got {tensor.dtype}")
        if not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{weights_path}: {key} holds NaN or inf")
    try:
        state = state_dict_from_diffusers(tensors, config)
    except ValueError as error:
        raise ValueError(f"{weights_path}: {error}") from None
    return config, {key: value.to(torch.float32) for key, value in state.items()}


def _weights(folder: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    """The tensors of the model folder's safetensors file, or of its pickled state dict (read
    with torch's weights_only unpickler, which builds tensors and nothing else)."""
    path = folder / WEIGHTS
    if os.path.lexists(path):
        try:
            return path, load(_read_file(path))
        except SafetensorError as error:
            raise ValueError(f"{path}: is not a safetensors file ({error})") from None
    path = folder / PICKLED_WEIGHTS
    if not os.path.lexists(path):
        raise ValueError(f"{folder}: has no weights ({WEIGHTS} or {PICKLED_WEIGHTS})")
    try:
        tensors = torch.load(io.BytesIO(_read_file(path)), map_location="cpu", weights_only=True)
    except Exception as error:  # weights_only refuses anything but tensors and containers
        raise ValueError(f"{path}: is not a state dict of tensors ({error})") from None
    if not (isinstance(tensors, dict) and all(isinstance(key, str) and isinstance(value,
                                                                                   torch.Tensor)
                                              for key, value in tensors.items())):
        raise ValueError(f"{path}: must hold a dict of named tensors")
    return path, tensors


def _with_defaults(written: Mapping[str, Any], diffusers_class: Any) -> dict[str, Any]:
    """The config diffusers builds ``diffusers_class`` with from a file: the arguments of its
    ``__init__`` at their defaults, overridden by those the file sets (others it ignores)."""
    parameters = inspect.signature(diffusers_class.__init__).parameters
    defaults = {name: parameter.default for name, parameter in parameters.items()
                if name != "self" and parameter.default is not inspect.Parameter.empty}
    return {**defaults, **{key: value for key, value in written.items() if key in defaults}}


def _json_object(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(_read_file(path), parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:  # not UTF-8, not JSON, NaN, nested deeply
        raise ValueError(f"{path}: is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: must hold a JSON object, got {value!r:.60}")
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _read_file(path: Path) -> bytes:
    """The bytes of the regular file at ``path`` (links followed: a downloaded hub snapshot is
    links into its blob store); a FIFO, device or folder is refused without reading it."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ValueError(f"{path}: is missing") from None
    except OSError as error:  # a link loop, no permission, …
        raise ValueError(f"{path}: cannot be read ({error.strerror})") from None
    with open(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise ValueError(f"{path}: is not a regular file; refused without reading it")
        return stream.read()


def _require_folder(path: Path) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ValueError(f"{path}: is missing") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot be read ({error.strerror})") from None
    if not stat.S_ISDIR(mode):
        raise ValueError(f"{path}: is not a folder")
