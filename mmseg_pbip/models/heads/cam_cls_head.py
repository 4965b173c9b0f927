"""A CAM classifier: 1x1 convolution on the last feature map."""
from typing import Dict, Optional, Sequence

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
        loss_cls (dict): The classification loss on ``cls_scores`` and the
            image-level labels (logged under its ``loss_name``). Defaults to
            the multi-label soft-margin loss (PSCL).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 in_index: int = -1,
                 loss_cls: dict = dict(type='MultiLabelSoftMarginLoss'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.in_index = in_index
        self.classifier = nn.Conv2d(in_channels, num_classes, 1, bias=False)
        self.loss_cls = MODELS.build(loss_cls)

    def forward(self,
                feats: Sequence[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Returns ``feats`` ``[B, C, h, w]``, ``cams`` ``[B, N, h, w]`` and
        ``cls_scores`` ``[B, N]``."""
        x = feats[self.in_index]
        cams = self.classifier(x)
        return dict(feats=x, cams=cams, cls_scores=cams.mean((2, 3)))

    def loss(self, outputs: Dict[str, torch.Tensor],
             labels: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``{loss_name: loss_cls(cls_scores, labels)}``.

        Args:
            outputs (dict): :meth:`forward` outputs (``cls_scores``
                ``[B, N]``).
            labels (Tensor): ``[B, N]`` multi-hot image-level labels.

        Returns:
            dict[str, Tensor]: The scalar loss under its ``loss_name``.
        """
        return {
            self.loss_cls.loss_name: self.loss_cls(outputs['cls_scores'],
                                                   labels)
        }
