"""RoIAlign with a fast CPU backward pass (same values as ``torchvision.ops.roi_align``).

torchvision's CPU backward walks every (RoI, channel, bin, sample) and recomputes the four bilinear
weights of each sample once per channel, then adds them one float at a time; on a 2-core CPU it
was the largest single cost of a toy detector iteration after the convolutions. The weights do
not depend on the channel, so :func:`roi_align` computes them once per (RoI, bin, sample) and
scatters whole channel rows with ``index_add_`` (16 calls for sampling ratio 2). The forward pass
is torchvision's own; the gradient equals torchvision's up to the order of float additions.

Used on the CPU with ``aligned=True`` and a fixed sampling ratio (the box pooler's setting);
anything else (CUDA, adaptive sampling) calls torchvision's operator unchanged.
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor
from torchvision.ops import roi_align as tv_roi_align

__all__ = ["roi_align", "bilinear_taps"]


def bilinear_taps(start: Tensor, bin_size: Tensor, bins: int, samples: int, size: int) -> Tuple[Tensor, ...]:
    """Per-axis bilinear taps of RoIAlign's sample points (torchvision's ``pre_calc`` rule, one axis).

    Args:
        start, bin_size: (R,) first coordinate and bin length of every RoI on this axis (feature pixels).
        bins, samples: pooled bins and sampling points per bin along the axis.
        size: the feature map's extent along the axis.

    Returns ``(low, high, w_low, w_high)``, each (R, bins, samples): the two neighbouring pixel
    indices and their weights; points outside ``[-1, size]`` get weight 0.
    """
    # torchvision's order of float operations: start + i * bin + (k + 0.5) * bin / samples
    i = torch.arange(bins, dtype=start.dtype, device=start.device)[None, :, None]
    k = (torch.arange(samples, dtype=start.dtype, device=start.device) + 0.5)[None, None, :]
    b = bin_size[:, None, None]
    pos = start[:, None, None] + i * b + k * b / samples
    valid = (pos >= -1.0) & (pos <= size)
    pos = pos.clamp(min=0)
    low = pos.floor().long()
    at_edge = low >= size - 1
    low = torch.where(at_edge, torch.full_like(low, size - 1), low)
    high = torch.where(at_edge, low, low + 1)
    pos = torch.where(at_edge, low.to(pos.dtype), pos)
    frac = pos - low.to(pos.dtype)
    w_high = torch.where(valid, frac, torch.zeros_like(frac))
    w_low = torch.where(valid, 1.0 - frac, torch.zeros_like(frac))
    return low, high, w_low, w_high


class _RoIAlignFastBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, rois: Tensor, output_size: int, spatial_scale: float, sampling_ratio: int):
        out = tv_roi_align(x, rois, output_size, spatial_scale, sampling_ratio, aligned=True)
        ctx.save_for_backward(rois)
        ctx.meta = (tuple(x.shape), x.dtype, output_size, spatial_scale, sampling_ratio)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        (rois,) = ctx.saved_tensors
        (b, c, h, w), dtype, p, scale, s = ctx.meta
        grad = torch.zeros(b * h * w, c, dtype=torch.float32, device=grad_out.device)
        if rois.shape[0]:
            r = rois.to(torch.float32)
            x1, y1 = r[:, 1] * scale - 0.5, r[:, 2] * scale - 0.5
            bw, bh = (r[:, 3] * scale - 0.5 - x1) / p, (r[:, 4] * scale - 0.5 - y1) / p
            ylo, yhi, wylo, wyhi = bilinear_taps(y1, bh, p, s, h)  # (R, P, S)
            xlo, xhi, wxlo, wxhi = bilinear_taps(x1, bw, p, s, w)
            base = r[:, 0].long() * (h * w)
            rows = grad_out.to(torch.float32).permute(0, 2, 3, 1).reshape(-1, c) / float(s * s)  # (R*P*P, C)
            for iy in range(s):
                for yi, wy in ((ylo[:, :, iy], wylo[:, :, iy]), (yhi[:, :, iy], wyhi[:, :, iy])):
                    for ix in range(s):
                        for xi, wx in ((xlo[:, :, ix], wxlo[:, :, ix]), (xhi[:, :, ix], wxhi[:, :, ix])):
                            idx = base[:, None, None] + yi[:, :, None] * w + xi[:, None, :]  # (R, P, P)
                            weight = (wy[:, :, None] * wx[:, None, :]).reshape(-1, 1)
                            grad.index_add_(0, idx.reshape(-1), rows * weight)
        grad_x = grad.view(b, h, w, c).permute(0, 3, 1, 2).to(dtype)  # channels-last strides
        return grad_x, None, None, None, None


def roi_align(x: Tensor, rois: Tensor, output_size: int, spatial_scale: float, sampling_ratio: int) -> Tensor:
    """``torchvision.ops.roi_align(..., aligned=True)`` with the fast CPU backward of this module.

    Args:
        x: (B, C, H, W) feature map; rois: (R, 5) rows ``(batch index, x1, y1, x2, y2)`` in input pixels.
    """
    if x.device.type != "cpu" or sampling_ratio <= 0 or not (x.requires_grad and torch.is_grad_enabled()):
        return tv_roi_align(x, rois, output_size, spatial_scale, sampling_ratio, aligned=True)
    if x.dtype != torch.float32:  # what torchvision's autocast wrapper does: compute in float32
        return _RoIAlignFastBackward.apply(x.float(), rois.float(), output_size, spatial_scale,
                                           sampling_ratio).to(x.dtype)
    return _RoIAlignFastBackward.apply(x, rois.to(x.dtype), output_size, spatial_scale, sampling_ratio)
