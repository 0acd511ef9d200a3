"""Seeded redraw of every parameter of a DepthAnything3Net (fixtures and random checkpoints).

Shared by tools/reference/make_fixtures.py (and so make_checkpoint.py) and tools/gpu/da3_slim.py:
imports only torch here and the reference's model package inside the functions, so it works on
a stock torch venv where depth_anything_3.api cannot be imported.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn


def redraw_parameters(net, seed: int) -> None:
    """Replace every parameter by seeded random values, in place.

    In-place copies keep tied parameters tied (DualDPT's aux head uses one LayerNorm
    module in all four output_conv2_aux levels); named_modules() yields a shared module
    once, so it is drawn once. Weights get a fan-in scaled normal so activations keep a
    sensible size through the network; affine/bias/token values are far from 0/1 so a
    port that drops one of them is caught.
    """
    from depth_anything_3.model.dinov2.vision_transformer import DinoVisionTransformer

    g = torch.Generator().manual_seed(seed)

    def normal(p: torch.Tensor, std: float, mean: float = 0.0) -> None:
        p.copy_(torch.randn(p.shape, generator=g) * std + mean)

    def uniform(p: torch.Tensor, lo: float, hi: float) -> None:
        p.copy_(torch.rand(p.shape, generator=g) * (hi - lo) + lo)

    drawn: set[int] = set()
    with torch.no_grad():
        for _, module in net.named_modules():
            params = dict(module.named_parameters(recurse=False))
            if not params:
                continue
            if isinstance(module, nn.LayerNorm):
                uniform(module.weight, 0.5, 1.5)
                normal(module.bias, 0.1)
            elif isinstance(module, nn.Linear):
                normal(module.weight, 1.0 / math.sqrt(module.in_features))
                if module.bias is not None:
                    normal(module.bias, 0.05)
            elif isinstance(module, nn.Conv2d):
                fan_in = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
                normal(module.weight, 1.0 / math.sqrt(fan_in))
                if module.bias is not None:
                    normal(module.bias, 0.05)
            elif isinstance(module, nn.ConvTranspose2d):
                # each output pixel receives in_channels * (k/stride)^2 taps
                kh, kw = module.kernel_size
                sh, sw = module.stride
                fan_in = module.in_channels * max(1, (kh // sh) * (kw // sw))
                normal(module.weight, 1.0 / math.sqrt(fan_in))
                normal(module.bias, 0.05)
            elif set(params) == {"gamma"}:
                # LayerScale (two classes in the reference: dinov2 blocks and cam_enc blocks)
                uniform(module.gamma, 0.2, 1.0)
            elif isinstance(module, DinoVisionTransformer):
                unknown = set(params) - {"cls_token", "pos_embed", "camera_token", "register_tokens"}
                if unknown:
                    raise TypeError(f"no redraw rule for DinoVisionTransformer.{sorted(unknown)}")
                # tokens and the learned position embedding, on the scale of patch tokens
                normal(module.cls_token, 1.0)
                normal(module.pos_embed, 0.5)
                if hasattr(module, "camera_token"):
                    normal(module.camera_token, 1.0)
                if module.register_tokens is not None:
                    normal(module.register_tokens, 1.0)
            else:
                raise TypeError(f"no redraw rule for {type(module).__name__} with {list(params)}")
            drawn.update(id(p) for p in params.values())

        missing = [k for k, p in net.named_parameters() if id(p) not in drawn]
        if missing:
            raise RuntimeError(f"parameters not redrawn: {missing}")

        scale_output_layers(net)


def scale_output_layers(net) -> None:
    """Set the last layers so every output varies over pixels and stays in range.

    Fixed, documented constants (no data-dependent calibration):
      * the depth/conf final 1x1 conv gets a zero bias, so exp() gives depth around 1
        (log-depth standard deviation about 0.6 over the image, range about 0.01..20);
      * the sky logit gets a zero bias, so that some pixels are sky (> 0.3) and most
        are not, which exercises the sky -> 0.99-quantile replacement;
      * the camera decoder's FOV branch gets small weights and a positive bias (its ReLU
        would otherwise often output 0, and a zero FOV means an infinite focal length).
    """
    from depth_anything_3.model.dpt import DPT

    head = net.head
    head.scratch.output_conv2[-1].bias.zero_()
    if isinstance(head, DPT) and head.use_sky_head:
        head.scratch.sky_output_conv2[-1].bias.zero_()
    if net.cam_dec is not None:
        fov = net.cam_dec.fc_fov[0]
        fov.weight.mul_(0.1)
        fov.bias.fill_(1.0)  # ~57 degrees
