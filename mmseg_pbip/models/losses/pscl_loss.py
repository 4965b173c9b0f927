"""Pseudo-Supervised Contrastive Loss (PSCL) on last-stage features."""
from typing import Dict

import torch
import torch.nn as nn
from mmseg.registry import MODELS

from .supcon_loss import SupConLoss


@MODELS.register_module()
class PSCLLoss(nn.Module):
    """Label pixel features with their CAM pseudo label, keep the confident
    ones, contrast them with SupCon.

    Pseudo labels (detached): per image, the CAMs ``[N, h, w]`` of the
    classes in the image-level label, ReLU'd and divided by their maximum,
    concatenated with a constant background map ``bg_score``; the label is
    the argmax (background = ``N``) and the confidence its score. Features
    whose confidence is below ``conf_threshold`` are dropped; at most
    ``max_samples`` of the rest (chosen at random, for a bounded cost) are
    projected, normalised and fed to :class:`SupConLoss`.

    Args:
        in_channels (int): Feature channels ``C``.
        proj_channels (int): Projection size. Defaults to 128.
        bg_score (float): Score of the background map. Defaults to 0.3.
        conf_threshold (float): Minimum confidence kept. Defaults to 0.5.
        temperature (float): SupCon temperature. Defaults to 0.1.
        max_samples (int): Features per batch at most. Defaults to 1024.
        loss_weight (float): ``lambda_1``. Defaults to 0.1.
    """

    def __init__(self,
                 in_channels: int,
                 proj_channels: int = 128,
                 bg_score: float = 0.3,
                 conf_threshold: float = 0.5,
                 temperature: float = 0.1,
                 max_samples: int = 1024,
                 loss_weight: float = 0.1) -> None:
        super().__init__()
        self.projector = nn.Sequential(
            nn.Linear(in_channels, in_channels), nn.ReLU(inplace=True),
            nn.Linear(in_channels, proj_channels))
        self.bg_score = bg_score
        self.conf_threshold = conf_threshold
        self.max_samples = max_samples
        self.loss_weight = loss_weight
        self.supcon = SupConLoss(temperature)

    @torch.no_grad()
    def pseudo_labels(self, cams: torch.Tensor, labels: torch.Tensor):
        """Per-pixel pseudo labels and confidences.

        Args:
            cams (Tensor): ``[B, N, h, w]`` CAM logits.
            labels (Tensor): ``[B, N]`` image-level labels.

        Returns:
            tuple[Tensor, Tensor]: ``[B, h, w]`` labels in 0..N (N =
            background) and ``[B, h, w]`` confidences.
        """
        cams = cams.detach().relu() * labels[:, :, None, None]
        cams = cams / (cams.amax((2, 3), keepdim=True) + 1e-5)
        bg = torch.full_like(cams[:, :1], self.bg_score)
        scores = torch.cat([cams, bg], 1)
        conf, idx = scores.max(1)
        return idx, conf

    def forward(self, feats: torch.Tensor, cams: torch.Tensor,
                labels: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Args: feats ``[B, C, h, w]``, cams ``[B, N, h, w]``, labels
        ``[B, N]``. Returns: ``{'loss_pscl': scalar}``."""
        target, conf = self.pseudo_labels(cams, labels)
        keep = (conf >= self.conf_threshold).flatten()
        flat = feats.permute(0, 2, 3, 1).flatten(0, 2)  # [B*h*w, C]
        idx = keep.nonzero().squeeze(1)
        if idx.numel() > self.max_samples:
            perm = torch.randperm(idx.numel(), device=idx.device)
            idx = idx[perm[:self.max_samples]]
        if idx.numel() == 0:
            zero = feats.sum() * 0 + sum(p.sum() * 0
                                         for p in self.projector.parameters())
            return dict(loss_pscl=zero)
        z = self.projector(flat[idx])
        loss = self.supcon(z, target.flatten()[idx])
        return dict(loss_pscl=self.loss_weight * loss)
