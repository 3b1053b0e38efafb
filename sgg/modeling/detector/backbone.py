"""FPN backbones built from torchvision bodies with random initialisation (nothing is downloaded)."""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from typing import Dict, List, Sequence

from torch import Tensor, nn
from torchvision import models
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops import FrozenBatchNorm2d

__all__ = ["FPNBackbone", "BODIES"]

BODIES = ("resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v3_large")
_RESNET_STAGES = ("conv1", "layer1", "layer2", "layer3", "layer4")  # stage k+1 output has stride 2**(k+1)


def _norm_layer(norm: str, eps: float = 1e-5):
    if norm == "BN":
        return partial(nn.BatchNorm2d, eps=eps)
    if norm == "FrozenBN":
        return partial(FrozenBatchNorm2d, eps=eps)
    raise ValueError(f"MODEL.DETECTOR.NORM: expected 'BN' or 'FrozenBN', got {norm!r}")


def _resnet_body(name: str, norm: str, trainable_layers: int, returned_layers: Sequence[int]):
    body = getattr(models, name)(weights=None, norm_layer=_norm_layer(norm))
    trainable = _RESNET_STAGES[len(_RESNET_STAGES) - trainable_layers :]
    for pname, p in body.named_parameters():
        stage = "conv1" if pname.startswith("bn1") else pname.split(".")[0]
        p.requires_grad_(stage in trainable)
    stage_channels = {1: body.layer1[-1], 2: body.layer2[-1], 3: body.layer3[-1], 4: body.layer4[-1]}
    channels = []
    for k in returned_layers:
        block = stage_channels[k]
        last_bn = block.bn3 if hasattr(block, "bn3") else block.bn2
        channels.append(last_bn.num_features)
    return_layers = {f"layer{k}": f"p{k + 1}" for k in returned_layers}
    return body, return_layers, channels


def _mobilenet_body(norm: str, trainable_layers: int, returned_layers: Sequence[int]):
    kwargs = (
        {} if norm == "BN" else {"norm_layer": _norm_layer(norm, eps=1e-3)}
    )  # 1e-3: torchvision's default
    features = models.mobilenet_v3_large(weights=None, **kwargs).features
    # blocks flagged ``_is_cn`` halve the resolution; stage 0 is the stride-2 stem, stage k (1..4) has
    # stride 2**(k+1) and runs from its downsampling block to the block before the next one
    downs = [i for i, b in enumerate(features) if getattr(b, "_is_cn", False)]
    if len(downs) != 4:
        raise RuntimeError(f"unexpected MobileNetV3 layout: {len(downs)} downsampling blocks")
    stage_start = [0] + downs
    stage_end = {k: (downs[k] - 1 if k < 4 else len(features) - 1) for k in range(1, 5)}
    first_trainable = stage_start[5 - trainable_layers] if trainable_layers > 0 else len(features)
    for i, block in enumerate(features):
        for p in block.parameters():
            p.requires_grad_(i >= first_trainable)
    channels = [features[stage_end[k]].out_channels for k in returned_layers]
    return_layers = {str(stage_end[k]): f"p{k + 1}" for k in returned_layers}
    return features, return_layers, channels


class FPNBackbone(nn.Module):
    """A ResNet or MobileNetV3 body with a torchvision FPN on top, randomly initialised.

    Outputs an ordered dict ``p<l>`` (stride ``2**l``) for every returned stage plus one extra
    max-pooled level (torchvision's ``LastLevelMaxPool``), finest first.

    Args:
        body: one of ``BODIES``.
        returned_layers: stages fed to the FPN, each in 1..4 (stage k has stride ``2**(k+1)``).
        out_channels: FPN width.
        norm: "BN" (trainable ``nn.BatchNorm2d``) or "FrozenBN".
        trainable_layers: how many stages (from the last) are trained; 5 = all, 0 = none.
    """

    def __init__(
        self,
        body: str = "resnet50",
        returned_layers: Sequence[int] = (1, 2, 3, 4),
        out_channels: int = 256,
        norm: str = "BN",
        trainable_layers: int = 5,
    ) -> None:
        super().__init__()
        returned_layers = sorted(int(k) for k in returned_layers)
        if not returned_layers or returned_layers[0] < 1 or returned_layers[-1] > 4:
            raise ValueError(
                f"MODEL.DETECTOR.RETURNED_LAYERS: each stage must be in 1..4, got {returned_layers}"
            )
        if returned_layers != list(range(returned_layers[0], returned_layers[-1] + 1)):
            raise ValueError(
                f"MODEL.DETECTOR.RETURNED_LAYERS: stages must be consecutive, got {returned_layers}"
            )
        if not 0 <= trainable_layers <= 5:
            raise ValueError(f"MODEL.DETECTOR.TRAINABLE_LAYERS: expected 0..5, got {trainable_layers}")
        if body.startswith("resnet"):
            if body not in BODIES:
                raise ValueError(f"unknown backbone body {body!r}; known: {BODIES}")
            net, return_layers, channels = _resnet_body(body, norm, trainable_layers, returned_layers)
        elif body == "mobilenet_v3_large":
            net, return_layers, channels = _mobilenet_body(norm, trainable_layers, returned_layers)
        else:
            raise ValueError(f"unknown backbone body {body!r}; known: {BODIES}")
        self.fpn = BackboneWithFPN(net, return_layers, channels, out_channels)
        levels = [k + 1 for k in returned_layers]
        self.pool_name = f"p{levels[-1] + 1}"
        self.out_channels = int(out_channels)
        self.box_in_features: List[str] = [f"p{lv}" for lv in levels]
        self.out_features: List[str] = self.box_in_features + [self.pool_name]
        self.strides: Dict[str, int] = {f"p{lv}": 2**lv for lv in levels + [levels[-1] + 1]}

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        """(B, 3, H, W) normalised images -> ordered FPN maps ``p<l>``, finest first."""
        out = self.fpn(x)
        return OrderedDict((self.pool_name if k == "pool" else k, v) for k, v in out.items())
