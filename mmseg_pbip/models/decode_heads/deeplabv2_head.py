"""DeepLab-v2's ASPP classifier (Chen et al., 2017), absent from MMSeg."""
from typing import List, Sequence

import torch
import torch.nn as nn
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS


@MODELS.register_module()
class DeepLabV2Head(BaseDecodeHead):
    """ASPP-L of DeepLab-v2: the sum of four dilated 3x3 classifiers.

    Each branch maps the backbone's last feature map ``[B, C, H, W]``
    straight to class logits with a 3x3 convolution of dilation ``r``
    (6, 12, 18, 24); the head returns their sum ``[B, num_classes, H, W]``.
    There is no 1x1 ``conv_seg`` after it, unlike MMSeg's ASPP heads.

    Args:
        dilations (Sequence[int]): Dilation rates. Defaults to
            (6, 12, 18, 24).
        **kwargs: :class:`BaseDecodeHead` arguments (``in_channels``,
            ``num_classes``, ``loss_decode``, ...); ``channels`` is unused
            and defaults to ``in_channels``.
    """

    def __init__(self, dilations: Sequence[int] = (6, 12, 18, 24),
                 **kwargs) -> None:
        kwargs.setdefault('channels', kwargs.get('in_channels'))
        kwargs.setdefault('dropout_ratio', 0.)
        kwargs.setdefault('init_cfg', None)
        super().__init__(**kwargs)
        del self.conv_seg  # the branches are the classifiers
        self.dilations = tuple(dilations)
        self.aspp = nn.ModuleList([
            nn.Conv2d(
                self.in_channels, self.out_channels, 3, padding=d, dilation=d)
            for d in self.dilations
        ])

    def init_weights(self) -> None:
        """Normal(0, 0.01) weights and zero biases, as in DeepLab-v2."""
        for conv in self.aspp:
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)

    def forward(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        """Backbone features -> ``[B, num_classes, H, W]`` logits."""
        x = self._transform_inputs(inputs)
        if self.dropout is not None:
            x = self.dropout(x)
        return sum(conv(x) for conv in self.aspp)
