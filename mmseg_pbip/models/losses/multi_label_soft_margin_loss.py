"""Multi-label soft-margin loss (PSCL's classification loss)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS


@MODELS.register_module()
class MultiLabelSoftMarginLoss(nn.Module):
    """``loss_weight * multilabel_soft_margin_loss(scores, labels)``.

    The mean over classes and images of the binary logistic loss of each
    class score, as ``torch.nn.MultiLabelSoftMarginLoss``.

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        loss_name (str): Key of the loss in the log. Defaults to 'loss_mlsm'.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_mlsm') -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def forward(self, cls_scores: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        """Args: cls_scores ``[B, N]`` logits; labels ``[B, N]`` multi-hot.

        Returns: scalar loss.
        """
        return self.loss_weight * F.multilabel_soft_margin_loss(
            cls_scores, labels)
