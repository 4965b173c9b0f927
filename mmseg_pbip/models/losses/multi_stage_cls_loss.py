"""Multi-label classification loss summed over backbone stages."""
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS


@MODELS.register_module()
class MultiStageClsLoss(nn.Module):
    """``sum_i w_i * BCEWithLogits(score_i, y)`` over stages.

    The released PBIP code weights stages 1-4 by ``(0, 0.1, 1, 1)``; the
    paper sums stages 1-3 with weight 1.

    Args:
        stage_weights (Sequence[float]): One weight per head stage.
        loss_name (str): Key of the loss in the log. Defaults to 'loss_cls'.
    """

    def __init__(self,
                 stage_weights: Sequence[float] = (0., 0.1, 1., 1.),
                 loss_name: str = 'loss_cls') -> None:
        super().__init__()
        self.stage_weights = [float(w) for w in stage_weights]
        self.loss_name = loss_name

    def forward(self, cls_scores: Sequence[torch.Tensor],
                labels: torch.Tensor) -> torch.Tensor:
        """Args: cls_scores: per stage ``[B, N]`` logits; labels ``[B, N]``
        multi-hot. Returns: scalar loss."""
        if len(cls_scores) != len(self.stage_weights):
            raise ValueError(
                f'{len(cls_scores)} stage scores but {len(self.stage_weights)}'
                ' stage weights')
        loss = cls_scores[0].new_zeros(())
        # zero-weighted stages stay in the graph (zero gradients): under
        # DDP every trainable parameter must take part in the loss
        for w, s in zip(self.stage_weights, cls_scores):
            loss = loss + w * F.binary_cross_entropy_with_logits(
                s, labels.to(s.dtype))
        return loss
