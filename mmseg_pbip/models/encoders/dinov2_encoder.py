"""DINOv2 image encoder through transformers."""
from typing import Optional

import torch
from mmseg.registry import MODELS

from .frozen_image_encoder import (FrozenImageEncoder, check_weights,
                                   fixed_random_init)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@MODELS.register_module()
class DINOv2Encoder(FrozenImageEncoder):
    """``Dinov2Model`` from a local folder; the feature is the pooled CLS.

    Args:
        pretrained (str, optional): Local Hugging Face folder
            (e.g. ``facebook/dinov2-base``).
        hf_config (dict, optional): ``Dinov2Config`` kwargs for tests.
        allow_random_init (bool): Accept random weights. Defaults to False.
        input_size (int): Defaults to 224.
        normalize (bool): Normalise with mean / std (see
            :class:`FrozenImageEncoder`). Defaults to True.
    """

    def __init__(self,
                 pretrained: Optional[str] = None,
                 hf_config: Optional[dict] = None,
                 allow_random_init: bool = False,
                 input_size: int = 224,
                 mean=IMAGENET_MEAN,
                 std=IMAGENET_STD,
                 normalize: bool = True) -> None:
        from transformers import Dinov2Config, Dinov2Model
        super().__init__(
            input_size=input_size, mean=mean, std=std, normalize=normalize)
        load = check_weights(
            pretrained, allow_random_init,
            'a Hugging Face DINOv2 folder (config.json + weights)',
            'facebook/dinov2-base, copied locally',
            type(self).__name__)
        with fixed_random_init():
            if load:
                self.model = Dinov2Model.from_pretrained(pretrained)
            else:
                self.model = Dinov2Model(Dinov2Config(**(hf_config or {})))
        self.out_channels = self.model.config.hidden_size
        self.weights_source = pretrained if load else 'random'
        self.freeze()

    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[B, 3, S, S] -> [B, hidden_size]``."""
        return self.model(pixel_values=pixels).pooler_output
