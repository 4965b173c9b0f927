"""A CAM classifier: 1x1 convolution on the last feature map."""
from typing import Dict, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS


@MODELS.register_module()
class CAMClsHead(BaseModule):
    """Class activation maps and class scores from one feature map.

    ``cams = conv1x1(F)`` (no bias) ``[B, N, h, w]`` and
    ``cls_scores = GAP(cams)`` ``[B, N]``, which equals a linear classifier
    on the pooled feature, so the CAMs are exactly the classifier's maps.

    Args:
        in_channels (int): Channels of the feature map.
        num_classes (int): Tissue classes ``N``.
        in_index (int): Which backbone output to use. Defaults to -1.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 in_index: int = -1,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.in_index = in_index
        self.classifier = nn.Conv2d(in_channels, num_classes, 1, bias=False)

    def forward(self,
                feats: Sequence[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Returns ``feats`` ``[B, C, h, w]``, ``cams`` ``[B, N, h, w]`` and
        ``cls_scores`` ``[B, N]``."""
        x = feats[self.in_index]
        cams = self.classifier(x)
        return dict(feats=x, cams=cams, cls_scores=cams.mean((2, 3)))
