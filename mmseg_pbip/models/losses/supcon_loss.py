"""Supervised contrastive loss (Khosla et al., 2020), vectorised."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS


@MODELS.register_module()
class SupConLoss(nn.Module):
    """SupCon over a set of labelled embeddings.

    For every anchor ``i`` with at least one positive (another sample of
    its label): ``L_i = -1/|P(i)| sum_{p in P(i)} log(exp(z_i.z_p / t) /
    sum_{a != i} exp(z_i.z_a / t))`` on L2-normalised ``z``; the loss is the
    mean over those anchors, and 0 (with a finite, zero gradient) when no
    anchor has a positive, e.g. when every feature was filtered out.

    Args:
        temperature (float): ``t``. Defaults to 0.1.
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, feats: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        """Args: feats ``[M, D]``; labels ``[M]`` (int). Returns: scalar."""
        if feats.shape[0] < 2:
            return feats.sum() * 0
        z = F.normalize(feats, dim=1)
        logits = z @ z.T / self.temperature
        eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
        logits = logits.masked_fill(eye, float('-inf'))
        log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        pos = (labels[:, None] == labels[None, :]) & ~eye
        n_pos = pos.sum(1)
        anchors = n_pos > 0
        if not anchors.any():
            return feats.sum() * 0
        pos_log_prob = log_prob.masked_fill(~pos, 0).sum(1)
        return -(pos_log_prob[anchors] / n_pos[anchors]).mean()
