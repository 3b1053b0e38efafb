"""ResNet / ResNeXt + FPN as maskrcnn-benchmark builds them (the backbone of SGB's detector).

Module and parameter names follow the original (``body.stem.conv1``, ``body.layer3.22.conv2``,
``fpn.fpn_inner4``, ...) so that a converted checkpoint maps key for key. What differs from
torchvision's ResNet:

* :class:`FrozenBatchNorm2dNoEps`: ``scale = weight * running_var.rsqrt()`` with **no eps**
  (torchvision's FrozenBatchNorm2d adds one), applied as ``x * scale + (bias - mean * scale)``;
* the stride of a block sits in the 1x1 conv (``stride_in_1x1=True``, MSRA) or in the 3x3 conv
  (``False``, what ResNeXt-101-32x8d uses); a block has a projection shortcut exactly when its
  input and output widths differ;
* widths come from ``num_groups * width_per_group`` (bottleneck of stage 2) and
  ``res2_out_channels``, doubling per stage;
* FPN: 1x1 lateral and 3x3 output convs with bias, nearest x2 top-down, and a P6 made by
  ``max_pool2d(P5, kernel 1, stride 2)``.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FrozenBatchNorm2dNoEps", "SGBResNet", "SGBFPN", "SGBResNetFPN", "STAGE_BLOCKS"]

# blocks per stage (layer1..layer4) of maskrcnn-benchmark's ``CONV_BODY`` names
STAGE_BLOCKS: Dict[str, Tuple[int, int, int, int]] = {
    "R-50-FPN": (3, 4, 6, 3),
    "R-101-FPN": (3, 4, 23, 3),
    "R-152-FPN": (3, 8, 36, 3),
}


class FrozenBatchNorm2dNoEps(nn.Module):
    """Fixed affine batch norm without eps; its four tensors are buffers (never trained)."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight * self.running_var.rsqrt()
        bias = self.bias - self.running_mean * scale
        return x * scale.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)


class _Bottleneck(nn.Module):
    def __init__(
        self, in_ch: int, mid_ch: int, out_ch: int, groups: int, stride_in_1x1: bool, stride: int
    ) -> None:
        super().__init__()
        self.downsample = None
        if in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False),
                FrozenBatchNorm2dNoEps(out_ch),
            )
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = nn.Conv2d(in_ch, mid_ch, kernel_size=1, stride=s1, bias=False)
        self.bn1 = FrozenBatchNorm2dNoEps(mid_ch)
        self.conv2 = nn.Conv2d(mid_ch, mid_ch, kernel_size=3, stride=s3, padding=1, bias=False, groups=groups)
        self.bn2 = FrozenBatchNorm2dNoEps(mid_ch)
        self.conv3 = nn.Conv2d(mid_ch, out_ch, kernel_size=1, bias=False)
        self.bn3 = FrozenBatchNorm2dNoEps(out_ch)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu_(self.bn1(self.conv1(x)))
        out = F.relu_(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = self.downsample(x) if self.downsample is not None else x
        out += identity
        return F.relu_(out)


class _Stem(nn.Module):
    def __init__(self, out_ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, out_ch, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = FrozenBatchNorm2dNoEps(out_ch)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu_(self.bn1(self.conv1(x)))
        return F.max_pool2d(x, kernel_size=3, stride=2, padding=1)


class SGBResNet(nn.Module):
    """The four-stage body; returns the outputs of layer1..layer4 (strides 4, 8, 16, 32).

    Args:
        stage_blocks: blocks of layer1..layer4, e.g. ``STAGE_BLOCKS["R-101-FPN"]``.
        num_groups, width_per_group: ResNeXt cardinality and width (1, 64 = plain ResNet).
        stride_in_1x1: stride of the first block of a stage in the 1x1 (True) or the 3x3 conv.
        stem_out_channels, res2_out_channels: widths of the stem and of layer1's output.
    """

    def __init__(
        self,
        stage_blocks: Sequence[int] = STAGE_BLOCKS["R-50-FPN"],
        num_groups: int = 1,
        width_per_group: int = 64,
        stride_in_1x1: bool = True,
        stem_out_channels: int = 64,
        res2_out_channels: int = 256,
    ) -> None:
        super().__init__()
        if len(stage_blocks) != 4:
            raise ValueError(f"SGBResNet: stage_blocks needs 4 values (layer1..4), got {tuple(stage_blocks)}")
        self.stem = _Stem(stem_out_channels)
        in_ch = stem_out_channels
        self.out_channels: List[int] = []
        for index, blocks in enumerate(stage_blocks, start=1):
            factor = 2 ** (index - 1)
            mid, out = num_groups * width_per_group * factor, res2_out_channels * factor
            layers = []
            for b in range(blocks):
                stride = (2 if index > 1 else 1) if b == 0 else 1
                layers.append(_Bottleneck(in_ch, mid, out, num_groups, stride_in_1x1, stride))
                in_ch = out
            self.add_module(f"layer{index}", nn.Sequential(*layers))
            self.out_channels.append(out)

    def forward(self, x: Tensor) -> List[Tensor]:
        x = self.stem(x)
        outs = []
        for index in range(1, 5):
            x = getattr(self, f"layer{index}")(x)
            outs.append(x)
        return outs


class SGBFPN(nn.Module):
    """Top-down FPN over the body's outputs plus a max-pooled extra level (P2..P6)."""

    def __init__(self, in_channels: Sequence[int], out_channels: int) -> None:
        super().__init__()
        self.num_inputs = len(in_channels)
        for idx, ch in enumerate(in_channels, start=1):
            self.add_module(f"fpn_inner{idx}", nn.Conv2d(ch, out_channels, kernel_size=1))
            self.add_module(f"fpn_layer{idx}", nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1))

    def forward(self, xs: Sequence[Tensor]) -> List[Tensor]:
        n = self.num_inputs
        last_inner = getattr(self, f"fpn_inner{n}")(xs[-1])
        results = [getattr(self, f"fpn_layer{n}")(last_inner)]
        for idx in range(n - 1, 0, -1):
            top_down = F.interpolate(last_inner, scale_factor=2, mode="nearest")
            lateral = getattr(self, f"fpn_inner{idx}")(xs[idx - 1])
            last_inner = lateral + top_down
            results.insert(0, getattr(self, f"fpn_layer{idx}")(last_inner))
        results.append(F.max_pool2d(results[-1], 1, 2, 0))
        return results


class SGBResNetFPN(nn.Module):
    """``body`` (:class:`SGBResNet`) + ``fpn`` (:class:`SGBFPN`) -> ordered maps ``p2..p6``.

    Args:
        arch: ``R-50-FPN``, ``R-101-FPN`` or ``R-152-FPN`` (maskrcnn-benchmark's ``CONV_BODY``).
        out_channels: FPN width (``BACKBONE_OUT_CHANNELS``).
        The rest: see :class:`SGBResNet`.
    """

    def __init__(
        self,
        arch: str = "R-50-FPN",
        out_channels: int = 256,
        num_groups: int = 1,
        width_per_group: int = 64,
        stride_in_1x1: bool = True,
        stem_out_channels: int = 64,
        res2_out_channels: int = 256,
    ) -> None:
        super().__init__()
        if arch not in STAGE_BLOCKS:
            raise ValueError(f"MODEL.DETECTOR.ARCH: the sgb backend knows {sorted(STAGE_BLOCKS)}, got {arch!r}")
        self.body = SGBResNet(
            STAGE_BLOCKS[arch], num_groups, width_per_group, stride_in_1x1, stem_out_channels, res2_out_channels
        )
        self.fpn = SGBFPN(self.body.out_channels, out_channels)
        self.out_channels = int(out_channels)
        self.out_features = ["p2", "p3", "p4", "p5", "p6"]
        self.strides = {name: 2 ** (i + 2) for i, name in enumerate(self.out_features)}

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        maps = self.fpn(self.body(x))
        return OrderedDict(zip(self.out_features, maps))
