"""Classifier-free guidance in torch: the COND-1 combination and a guided eps-model (COND-2).

:class:`GuidedModel` turns a class-conditional eps-model into a plain ``(x_t, t) -> ε̃`` model, so
every sampler takes guidance without knowing about it.
"""

import torch
from jaxtyping import Float, Int
from torch import nn

from specdiff._typecheck import typechecked
from specdiff.diffusion._validate import require_same_shape
from specdiff.spec._validate import require_int_at_least, require_real_in


@typechecked
def cfg_eps(
    eps_cond: Float[torch.Tensor, "batch *shape"],
    eps_uncond: Float[torch.Tensor, "batch *shape"],
    guidance_scale: float,
) -> Float[torch.Tensor, "batch *shape"]:
    """COND-1: ε̃ = ε_uncond + w·(ε_cond − ε_uncond), evaluated as w·ε_cond + (1 − w)·ε_uncond
    (exact at w = 1 and w = 0)."""
    require_real_in("guidance_scale", guidance_scale, -float("inf"), float("inf"),
                    low_open=True, high_open=True)
    require_same_shape("eps_uncond", eps_uncond, "eps_cond", eps_cond)
    return guidance_scale * eps_cond + (1.0 - guidance_scale) * eps_uncond


class GuidedModel(nn.Module):
    """COND-2: ε̃(x_t, t) = cfg_eps(model(x_t, t, labels), model(x_t, t, null), w) from **one**
    forward of ``model`` on the batch [x_t; x_t] with labels [class_labels; null_class].

    ``model`` takes ``class_labels`` as a keyword (``specdiff.nn.UNet``: the null class is
    ``num_classes``); ``class_labels`` holds one label per example of the batches it will see.
    """

    def __init__(self, model: nn.Module, class_labels: Int[torch.Tensor, "batch"],
                 guidance_scale: float, null_class: int) -> None:
        super().__init__()
        require_int_at_least("null_class", null_class, 0)
        require_real_in("guidance_scale", guidance_scale, -float("inf"), float("inf"),
                        low_open=True, high_open=True)
        if class_labels.ndim != 1 or class_labels.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"class_labels must be an int32/int64 tensor of shape (batch,), "
                             f"got {class_labels.dtype} of shape {tuple(class_labels.shape)}")
        self.model = model
        self.guidance_scale = float(guidance_scale)
        self.null_class = int(null_class)
        # A buffer, so the labels follow the model's device.
        self.register_buffer("class_labels", class_labels.detach().to(torch.int64).clone())

    @typechecked
    def forward(
        self, x_t: Float[torch.Tensor, "batch *shape"], t: Int[torch.Tensor, "batch"]
    ) -> Float[torch.Tensor, "batch *shape"]:
        labels = torch.as_tensor(self.class_labels)
        if labels.shape != (x_t.shape[0],):
            raise ValueError(f"x_t must have one example per class label ({labels.shape[0]}), "
                             f"got batch {x_t.shape[0]}")
        labels = labels.to(x_t.device)
        # One forward on the doubled batch: half the kernel launches of two calls, and a model
        # whose examples do not interact (no batch norm) gives the same values as two calls.
        eps = self.model(torch.cat([x_t, x_t]), torch.cat([t, t]),
                         class_labels=torch.cat([labels, torch.full_like(labels, self.null_class)]))
        eps_cond, eps_uncond = eps.chunk(2)
        return cfg_eps(eps_cond, eps_uncond, self.guidance_scale)
