"""PBIP's ImgMatch foreground/background contrastive loss."""
from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

Tensor = torch.Tensor


@MODELS.register_module()
class ImgMatchLoss(nn.Module):
    """Contrast the encoder features of CAM-masked images with prototypes.

    For every selected (image b, subclass p) pair, with ``M`` the subclass
    CAM ``[H, W]`` upsampled to the image and scaled to [0, 1] by its
    maximum, and ``b = M >= threshold`` (the adaptive threshold
    ``tau = threshold * max``):

    - ``X_FG = b * M * X`` and ``X_BG = (1 - b) * (1 - M) * X`` (eq. 5),
      each min-max normalised per channel;
    - both go through the frozen encoder in one batched call, giving
      ``f_FG, f_BG [S, d]``; ``s = cos(f, prototypes) / temperature``
      ``[S, P]``;
    - ``L_FG = -log(sum_pairs e^{s_p} / (sum_pairs e^{s_p} +
      sum_pairs sum_{m != p} e^{s_m}))`` (sums over pairs before the log);
    - ``L_BG = -log(sum_pairs mean_{m != p} e^{s_m} / (that +
      sum_pairs e^{s_p}))`` (roles swapped, mean over the other prototypes).

    Returns ``fg_weight * L_FG + bg_weight * L_BG`` terms plus
    ``cam_reg_weight * mean(cam)``. With no selected pair both terms are 0
    (the graph stays connected, the gradient finite).

    Args:
        threshold (float): ``delta`` of the adaptive threshold (released
            code 0.5, paper 0.15).
        temperature (float): Released code 0.07, paper 1.
        fg_weight (float): Weight of L_FG (released 0.1; paper
            beta * theta1 = 0.5).
        bg_weight (float): Weight of L_BG (released 0.1; paper
            beta * theta2 = 0.25).
        cam_reg_weight (float): Weight of ``mean(cam)`` (released
            0.1 * 0.0005; paper 0).
    """

    def __init__(self,
                 threshold: float = 0.5,
                 temperature: float = 0.07,
                 fg_weight: float = 0.1,
                 bg_weight: float = 0.1,
                 cam_reg_weight: float = 0.1 * 0.0005) -> None:
        super().__init__()
        self.threshold = threshold
        self.temperature = temperature
        self.fg_weight = fg_weight
        self.bg_weight = bg_weight
        self.cam_reg_weight = cam_reg_weight

    @staticmethod
    def minmax_per_channel(x: Tensor) -> Tensor:
        """``[S, C, H, W]`` -> each channel scaled to [0, 1]."""
        lo = x.amin((2, 3), keepdim=True)
        hi = x.amax((2, 3), keepdim=True)
        return (x - lo) / (hi - lo + 1e-5)

    def masked_images(self, images: Tensor, sub_cams: Tensor,
                      pairs: Tensor):
        """FG and BG images of the selected pairs.

        Args:
            images (Tensor): ``[B, 3, H, W]`` RGB in [0, 1].
            sub_cams (Tensor): ``[B, P, h, w]`` subclass CAMs (logits).
            pairs (Tensor): ``[S, 2]`` (image, subclass) indices.

        Returns:
            tuple[Tensor, Tensor]: ``[S, 3, H, W]`` FG and BG images.
        """
        cams = sub_cams[pairs[:, 0], pairs[:, 1]][:, None]  # [S, 1, h, w]
        cams = F.interpolate(cams, size=images.shape[-2:], mode='bilinear',
                             align_corners=True).relu()
        m = cams / (cams.amax((2, 3), keepdim=True) + 1e-5)
        b = (m >= self.threshold).to(m.dtype)
        x = images[pairs[:, 0]]
        fg = self.minmax_per_channel(b * m * x)
        bg = self.minmax_per_channel((1 - b) * (1 - m) * x)
        return fg, bg

    def contrast(self, feats: Tensor, prototypes: Tensor,
                 positive: Tensor):
        """FG and BG InfoNCE terms.

        Args:
            feats (Tensor): ``[2S, d]``, FG features then BG features.
            prototypes (Tensor): ``[P, d]`` encoder-space prototypes.
            positive (Tensor): ``[S]`` subclass index of every pair.

        Returns:
            tuple[Tensor, Tensor]: scalar ``L_FG`` and ``L_BG``.
        """
        sims = F.normalize(feats, dim=-1) @ F.normalize(prototypes,
                                                        dim=-1).T
        sims = sims / self.temperature  # [2S, P]
        num_s = positive.numel()
        onehot = F.one_hot(positive, prototypes.shape[0]).to(torch.bool)
        onehot = onehot.repeat(2, 1)
        # log-sum-exp over pairs for stability
        fg, bg = sims[:num_s], sims[num_s:]
        fg_pos = torch.logsumexp(fg[onehot[:num_s]], 0)
        fg_neg = torch.logsumexp(fg.masked_fill(onehot[:num_s], -1e4), (0, 1))
        loss_fg = -(fg_pos - torch.logaddexp(fg_pos, fg_neg))
        neg_count = prototypes.shape[0] - 1
        bg_neg_mean = torch.logsumexp(
            bg.masked_fill(onehot[num_s:], -1e4), 1) - torch.log(
                bg.new_tensor(float(max(neg_count, 1))))
        bg_pos_set = torch.logsumexp(bg_neg_mean, 0)
        bg_own = torch.logsumexp(bg[onehot[num_s:]], 0)
        loss_bg = -(bg_pos_set - torch.logaddexp(bg_pos_set, bg_own))
        return loss_fg, loss_bg

    def forward(self, images: Tensor, sub_cams: Tensor, pairs: Tensor,
                encoder: nn.Module, prototypes: Tensor) -> Dict[str, Tensor]:
        """Compute the loss terms.

        Args:
            images (Tensor): ``[B, 3, H, W]`` RGB in [0, 1].
            sub_cams (Tensor): ``[B, P, h, w]`` last-stage subclass CAMs.
            pairs (Tensor): ``[S, 2]`` selected (image, subclass) pairs.
            encoder (nn.Module): Frozen encoder, ``[n, 3, H, W] -> [n, d]``.
            prototypes (Tensor): ``[P, d]`` encoder-space prototypes.

        Returns:
            dict[str, Tensor]: ``loss_fg``, ``loss_bg``, ``loss_cam_reg``.
        """
        reg = self.cam_reg_weight * sub_cams.mean()
        if pairs.numel() == 0:
            zero = sub_cams.sum() * 0
            return dict(loss_fg=zero, loss_bg=zero, loss_cam_reg=reg)
        fg, bg = self.masked_images(images, sub_cams, pairs)
        feats = encoder(torch.cat([fg, bg], 0))
        loss_fg, loss_bg = self.contrast(feats, prototypes, pairs[:, 1])
        return dict(
            loss_fg=self.fg_weight * loss_fg,
            loss_bg=self.bg_weight * loss_bg,
            loss_cam_reg=reg)
