"""PBIP's prototype similarity (SIM) head: MiT features x prototypes."""
from typing import Dict, List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmseg.registry import MODELS

Tensor = torch.Tensor


@MODELS.register_module()
class PrototypeSimHead(BaseModule):
    """Class activation maps from the similarity of pixels to prototypes.

    For each used backbone stage ``i`` the ``P`` prototypes (``P = sum(K)``
    subclasses over ``N`` classes, each ``[d]``) are projected to the
    stage's channels by an MLP ``Linear(d, h) -> ReLU -> Linear(h, C_i)``
    (``h = hidden_ratio * d``); every pixel feature ``F_i(p)`` is compared
    with every projected prototype ``P_i(k)``:

    - ``normalize_prototypes=False`` (released code): a scaled dot product
      of the unit pixel feature with the projected prototype as it is,
      ``S_i(p, k) = scale_i * <F_i(p) / |F_i(p)|, P_i(k)>``, so every
      subclass keeps the gain its projection learns;
    - ``normalize_prototypes=True`` (paper, eq. 2): a cosine,
      ``S_i(p, k) = scale_i * cos(F_i(p), P_i(k))``.

    ``scale_i`` is learnable (initialised ``1 / 0.07``, no clamp) or fixed
    (the paper's eq. 2 is the plain cosine: fixed 1). Subclass maps are
    merged per class by ``'mean'`` (paper; released in training), ``'max'``
    (the released soft maximum ``sum_k softmax_k(s) * s_k``) or
    ``'hard_max'``. Subclass scores are the global average of the subclass
    maps, and class scores are the subclass scores merged by the same rule
    (for ``'mean'`` this equals the average of the class map; for the soft
    maximum it is the released order: pool, then merge).

    Prototypes are buffers, set with :meth:`set_prototypes` (from the image
    bank) or restored from a checkpoint.

    Args:
        in_channels (Sequence[int]): Channels of every backbone stage.
        num_classes (int): Number of tissue classes ``N``.
        prototype_dim (int): Prototype feature size ``d``. Defaults to 512.
        hidden_ratio (float): MLP hidden size / ``d``. Defaults to 0.5.
        logit_scale (float): Initial scale. Defaults to ``1 / 0.07``.
        learnable_scale (bool): Learn the scale per stage. Defaults True.
        normalize_prototypes (bool): L2-normalise the projected prototypes
            (a true cosine, paper eq. 2). Defaults to False (released).
        stages (Sequence[int]): Stage indices used. Defaults to all.
        init_cfg (dict, optional): Initialisation config.
    """

    # their number follows the image bank, not the config
    RESIZABLE_BUFFERS = ('prototypes', )

    def __init__(self,
                 in_channels: Sequence[int],
                 num_classes: int,
                 prototype_dim: int = 512,
                 hidden_ratio: float = 0.5,
                 logit_scale: float = 1 / 0.07,
                 learnable_scale: bool = True,
                 normalize_prototypes: bool = False,
                 stages: Sequence[int] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)
        self.num_classes = num_classes
        self.prototype_dim = prototype_dim
        self.normalize_prototypes = normalize_prototypes
        self.stages = list(range(len(in_channels))) if stages is None \
            else list(stages)
        hidden = int(prototype_dim * hidden_ratio)
        self.projections = nn.ModuleList([
            nn.Sequential(
                nn.Linear(prototype_dim, hidden), nn.ReLU(inplace=True),
                nn.Linear(hidden, self.in_channels[i])) for i in self.stages
        ])
        scale = torch.full((len(self.stages), ), float(logit_scale))
        if learnable_scale:
            self.logit_scale = nn.Parameter(scale)
        else:
            self.register_buffer('logit_scale', scale)
        self.register_buffer('prototypes', torch.zeros(0, prototype_dim))
        self.register_buffer('k_per_class',
                             torch.zeros(num_classes, dtype=torch.long))

    def init_weights(self) -> None:
        """Truncated-normal (std .02) MLP weights, zero biases."""
        super().init_weights()
        for m in self.projections.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                nn.init.zeros_(m.bias)

    @property
    def has_prototypes(self) -> bool:
        return self.prototypes.numel() > 0

    def set_prototypes(self, prototypes: Tensor,
                       k_per_class: Sequence[int]) -> None:
        """Install prototypes.

        Args:
            prototypes (Tensor): ``[sum(K), d]``, grouped by class in order.
            k_per_class (Sequence[int]): ``K`` of every class, length ``N``.
        """
        k = torch.as_tensor(list(k_per_class), dtype=torch.long)
        if k.numel() != self.num_classes or (k < 1).any():
            raise ValueError(
                f'k_per_class {k.tolist()} must give >= 1 prototype for each '
                f'of the {self.num_classes} classes')
        if prototypes.shape != (int(k.sum()), self.prototype_dim):
            raise ValueError(
                f'prototypes of shape {tuple(prototypes.shape)} do not match '
                f'k_per_class {k.tolist()} and prototype_dim '
                f'{self.prototype_dim}')
        device = self.k_per_class.device
        self.prototypes = prototypes.detach().to(device, torch.float32)
        self.k_per_class = k.to(device)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The number of prototypes is fixed by the bank, not the config:
        # take the checkpoint's shape.
        key = prefix + 'prototypes'
        if key in state_dict:
            self.prototypes = torch.empty_like(state_dict[key])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def class_groups(self):
        """Index of every subclass per class, padded.

        Returns:
            tuple[Tensor, Tensor]: ``index [N, Kmax]`` into the ``P``
            prototypes and ``valid [N, Kmax]`` bool.
        """
        k = self.k_per_class
        kmax = int(k.max())
        start = torch.cumsum(k, 0) - k
        offs = torch.arange(kmax, device=k.device)
        valid = offs[None] < k[:, None]
        index = torch.where(valid, start[:, None] + offs[None],
                            torch.zeros_like(valid, dtype=torch.long))
        return index, valid

    def merge(self, sub: Tensor, mode: str) -> Tensor:
        """Merge subclass maps or scores into class ones.

        Args:
            sub (Tensor): ``[B, P, ...]``.
            mode (str): 'mean', 'max' (soft maximum) or 'hard_max'.

        Returns:
            Tensor: ``[B, N, ...]``.
        """
        index, valid = self.class_groups()
        grouped = sub[:, index]  # [B, N, Kmax, ...]
        shape = (1, ) + tuple(valid.shape) + (1, ) * (sub.dim() - 2)
        valid = valid.view(shape)
        if mode == 'mean':
            return (grouped * valid).sum(2) / valid.sum(2)
        masked = grouped.masked_fill(~valid, float('-inf'))
        if mode == 'hard_max':
            return masked.max(2).values
        if mode == 'max':
            weights = masked.softmax(2)
            return (weights * grouped.masked_fill(~valid, 0)).sum(2)
        raise ValueError(f"merge must be 'mean', 'max' or 'hard_max', "
                         f'got {mode!r}')

    def forward(self,
                feats: Sequence[Tensor],
                merge: str = 'mean') -> Dict[str, List[Tensor]]:
        """Similarity maps of every used stage.

        Args:
            feats (Sequence[Tensor]): Backbone outputs, ``[B, C_i, H_i, W_i]``.
            merge (str): Subclass merge rule.

        Returns:
            dict[str, list[Tensor]]: per used stage, ``sub_cams``
            ``[B, P, H_i, W_i]``, ``cams`` ``[B, N, H_i, W_i]`` (subclass
            maps merged), ``sub_scores`` ``[B, P]`` (subclass maps pooled)
            and ``cls_scores`` ``[B, N]`` (subclass scores merged).
        """
        if not self.has_prototypes:
            raise RuntimeError(
                'PrototypeSimHead has no prototypes: build or load the image '
                'bank first (ImageBankHook, tools/build_image_bank.py) or '
                'load a checkpoint that holds them')
        out = dict(sub_cams=[], cams=[], sub_scores=[], cls_scores=[])
        for j, i in enumerate(self.stages):
            protos = self.projections[j](self.prototypes)
            if self.normalize_prototypes:
                protos = F.normalize(protos, dim=-1)
            feat = F.normalize(feats[i], dim=1)
            sub = torch.einsum('bchw,pc->bphw', feat, protos)
            sub = sub * self.logit_scale[j]
            sub_scores = sub.mean((2, 3))
            out['sub_cams'].append(sub)
            out['cams'].append(self.merge(sub, merge))
            out['sub_scores'].append(sub_scores)
            out['cls_scores'].append(self.merge(sub_scores, merge))
        return out
