"""Our U-Net ``state_dict`` keys ↔ diffusers' ``UNet2DModel`` keys (specs/interop.md, INTEROP-2).

A key is a module path and a parameter name. Containers are renamed by the tables below, and
diffusers numbers its up blocks from the lowest resolution while our ``up[ℓ]`` works at the
resolution of ``down[ℓ]``, so up-level indices are reversed. Layer names absent from
``LAYER_NAMES`` (norm1, conv1, norm2, conv2, conv, weight, bias) are the same in both.
"""

TOP_LEVEL = {
    "time_in": "time_embedding.linear_1",
    "time_out": "time_embedding.linear_2",
    "class_embedding": "class_embedding",
    "conv_in": "conv_in",
    "norm_out": "conv_norm_out",
    "conv_out": "conv_out",
}
MIDDLE = {"block_1": "resnets.0", "attention": "attentions.0", "block_2": "resnets.1"}
# Parts of a level; the first two are lists (an index follows), the resamplers are single.
LEVEL_PARTS = {
    "blocks": "resnets",
    "attentions": "attentions",
    "downsample": "downsamplers.0",
    "upsample": "upsamplers.0",
}
LAYER_NAMES = {
    "time_proj": "time_emb_proj",  # res block
    "skip": "conv_shortcut",
    "norm": "group_norm",  # attention
    "q": "to_q",
    "k": "to_k",
    "v": "to_v",
    "proj_out": "to_out.0",
}
LISTED_PARTS = ("blocks", "attentions")


def diffusers_key(key: str, num_levels: int) -> str:
    """The diffusers name of our ``state_dict`` key ``key`` in a U-Net with ``num_levels``."""
    head, *rest = key.split(".")
    if head in ("down", "up"):
        level, part, *rest = rest
        index = int(level) if head == "down" else num_levels - 1 - int(level)
        container = LEVEL_PARTS[part]
        if part in LISTED_PARTS:
            position, *rest = rest
            container = f"{container}.{position}"
        path = f"{head}_blocks.{index}.{container}"
    elif head == "mid":
        part, *rest = rest
        path = f"mid_block.{MIDDLE[part]}"
    else:
        path = TOP_LEVEL[head]
    return ".".join([path, *(LAYER_NAMES.get(name, name) for name in rest)])
