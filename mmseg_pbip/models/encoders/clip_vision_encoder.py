"""CLIP-family image encoders (CLIP, PLIP) through transformers."""
from typing import Optional

import torch
from mmseg.registry import MODELS

from .frozen_image_encoder import (FrozenImageEncoder, check_weights,
                                   fixed_random_init)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@MODELS.register_module()
class CLIPVisionEncoder(FrozenImageEncoder):
    """``CLIPVisionModelWithProjection`` from a local folder: CLIP, PLIP.

    PLIP (``vinid/plip``) is a CLIP checkpoint fine-tuned on pathology, so
    one class serves both; ``pretrained`` names the local folder.

    Args:
        pretrained (str, optional): Local Hugging Face folder.
        hf_config (dict, optional): ``CLIPVisionConfig`` kwargs for tests.
        allow_random_init (bool): Accept random weights. Defaults to False.
        normalize (bool): Normalise with mean / std (see
            :class:`FrozenImageEncoder`). Defaults to True.
    """

    def __init__(self,
                 pretrained: Optional[str] = None,
                 hf_config: Optional[dict] = None,
                 allow_random_init: bool = False,
                 mean=CLIP_MEAN,
                 std=CLIP_STD,
                 normalize: bool = True) -> None:
        from transformers import (CLIPVisionConfig,
                                  CLIPVisionModelWithProjection)
        load = check_weights(
            pretrained, allow_random_init,
            'a Hugging Face CLIP vision folder (config.json + weights)',
            'openai/clip-vit-base-patch32 or vinid/plip, copied locally',
            type(self).__name__)
        with fixed_random_init():
            if load:
                model = CLIPVisionModelWithProjection.from_pretrained(
                    pretrained)
            else:
                model = CLIPVisionModelWithProjection(
                    CLIPVisionConfig(**(hf_config or {})))
        super().__init__(
            input_size=model.config.image_size,
            mean=mean,
            std=std,
            normalize=normalize)
        self.model = model
        self.out_channels = model.config.projection_dim
        self.weights_source = pretrained if load else 'random'
        self.freeze()

    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[B, 3, S, S] -> [B, projection_dim]``."""
        return self.model(pixel_values=pixels).image_embeds
