"""MedCLIP's vision encoder (Swin-Tiny or ResNet-50 + linear projection)."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmseg.registry import MODELS

from ...utils import safe_load
from .frozen_image_encoder import (FrozenImageEncoder, check_weights,
                                   fixed_random_init)

# MedCLIP's image processor: a single mean/std on all channels, 224 px.
MEDCLIP_MEAN = (0.5862785803043838, ) * 3
MEDCLIP_STD = (0.27950088968644304, ) * 3


@MODELS.register_module()
class MedCLIPVisionEncoder(FrozenImageEncoder):
    """MedCLIP vision model built from transformers / torchvision classes.

    - ``variant='swin'``: transformers ``SwinModel`` (Swin-Tiny, pooled
      ``[B, 768]``) + ``projection_head = Linear(768, 512, bias=False)``;
    - ``variant='resnet50'``: torchvision ResNet-50 whose ``fc`` is
      ``Linear(2048, 512, bias=False)`` (MedCLIP's own layout).

    Weights, in order of preference:

    1. ``checkpoint``: a MedCLIP ``pytorch_model.bin`` (keys
       ``vision_model.model.*``, ``vision_model.projection_head.weight``);
    2. ``swin_pretrained`` (swin only): a local Hugging Face folder of
       ``microsoft/swin-tiny-patch4-window7-224``, with the projection drawn
       from ``projection_seed``, which is what the released PBIP code runs;
    3. random weights, only with ``allow_random_init=True`` (logged).

    Args:
        variant (str): 'swin' or 'resnet50'.
        checkpoint (str, optional): MedCLIP ``pytorch_model.bin``.
        swin_pretrained (str, optional): Local Swin-T Hugging Face folder.
        projection_seed (int): Seed of the random projection. Defaults 42.
        hf_config (dict, optional): ``SwinConfig`` kwargs (tiny test models);
            ignored when ``swin_pretrained`` is given.
        allow_random_init (bool): Accept random weights. Defaults to False.
        input_size (int): Defaults to 224.
        normalize (bool): Normalise with mean / std (see
            :class:`FrozenImageEncoder`). Defaults to True.
    """
    out_channels = 512

    def __init__(self,
                 variant: str = 'swin',
                 checkpoint: Optional[str] = None,
                 swin_pretrained: Optional[str] = None,
                 projection_seed: int = 42,
                 hf_config: Optional[dict] = None,
                 allow_random_init: bool = False,
                 input_size: int = 224,
                 mean=MEDCLIP_MEAN,
                 std=MEDCLIP_STD,
                 normalize: bool = True) -> None:
        super().__init__(
            input_size=input_size, mean=mean, std=std, normalize=normalize)
        if variant not in ('swin', 'resnet50'):
            raise ValueError(
                f"variant must be 'swin' or 'resnet50', got {variant!r}")
        self.variant = variant
        name = f'MedCLIPVisionEncoder[{variant}]'
        source = checkpoint or (swin_pretrained if variant == 'swin' else None)
        what = ('a MedCLIP pytorch_model.bin' if variant == 'resnet50' else
                'a MedCLIP pytorch_model.bin (checkpoint=) or a Swin-T '
                'Hugging Face folder (swin_pretrained=)')
        load = check_weights(
            source, allow_random_init, what,
            'MedCLIP release (RyanWangZf/MedCLIP) or '
            'microsoft/swin-tiny-patch4-window7-224, copied locally', name)
        with fixed_random_init():
            if variant == 'swin':
                from transformers import SwinConfig, SwinModel
                if load and not checkpoint:
                    self.model = SwinModel.from_pretrained(swin_pretrained)
                else:
                    self.model = SwinModel(SwinConfig(**(hf_config or {})))
                width = self.model.config.hidden_size
                self.projection_head = nn.Linear(width, 512, bias=False)
                gen = torch.Generator().manual_seed(projection_seed)
                bound = 1 / width**0.5
                with torch.no_grad():
                    self.projection_head.weight.uniform_(
                        -bound, bound, generator=gen)
            else:
                import torchvision
                self.model = torchvision.models.resnet50(weights=None)
                self.model.fc = nn.Linear(2048, 512, bias=False)
        if checkpoint:
            self.load_medclip(checkpoint)
        self.weights_source = checkpoint or (swin_pretrained
                                             if load else 'random')
        self.freeze()

    def load_medclip(self, path: str) -> None:
        """Load ``vision_model.*`` from a MedCLIP ``pytorch_model.bin``."""
        state = safe_load(path, what='MedCLIP checkpoint')
        state = state.get('state_dict', state)
        prefix = 'vision_model.'
        own = {
            k[len(prefix):]: v
            for k, v in state.items() if k.startswith(prefix)
        }
        if not own:
            raise ValueError(f'{path}: no vision_model.* keys; not a MedCLIP '
                             'checkpoint')
        missing, unexpected = self.load_state_dict(own, strict=False)
        if missing or unexpected:
            raise ValueError(
                f'{path}: does not match MedCLIP {self.variant}: missing '
                f'{missing[:5]}, unexpected {unexpected[:5]}')
        print_log(
            f'MedCLIP vision weights loaded from {path}', logger='current')

    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[B, 3, S, S] -> [B, 512]``."""
        if self.variant == 'swin':
            pooled = self.model(pixel_values=pixels).pooler_output
            return self.projection_head(pooled)
        return self.model(pixels)
