"""Pathology foundation models as frozen prototype encoders."""
from typing import Optional, Sequence

import torch
from mmengine.logging import print_log
from mmseg.registry import MODELS

from ..utils.foundation_models import (build_foundation_model, foundation_spec,
                                       load_foundation_weights, run_hf_vit)
from .frozen_image_encoder import (FrozenImageEncoder, check_weights,
                                   fixed_random_init)

POOLINGS = ('cls', 'cls+mean_patch', 'attn_pool', 'attn_pool_proj')


@MODELS.register_module()
class FoundationModelEncoder(FrozenImageEncoder):
    """A pathology foundation model (UNI, UNI2-h, Virchow2, H-optimus-0/1,
    Phikon, Phikon-v2, CONCH) as the frozen encoder of the image bank and of
    PBIP's FG/BG images.

    The architecture, input size, normalisation and pooling are those of the
    model's public card (``mmseg_pbip.models.utils.FOUNDATION_MODELS``), so
    one config line swaps encoders::

        image_encoder=dict(type='FoundationModelEncoder', arch='uni',
                           checkpoint='pretrained/uni/pytorch_model.bin')

    The encoder takes RGB in [0, 1] (``ImgMatchLoss.image_space='rgb01'``,
    ``ImageBankHook.input_space='rgb01'``), resizes to its input size and
    normalises with its own statistics, so the bank and the loss see the
    model's own input space.

    Poolings (``[B, 3, S, S] -> [B, feature_dim]``):

    - ``'cls'``: the class token after the final norm (UNI, UNI2-h,
      H-optimus, Phikon, Phikon-v2);
    - ``'cls+mean_patch'``: class token concatenated with the mean of the
      patch tokens, register tokens excluded (Virchow2, 2 x 1280);
    - ``'attn_pool'``: CONCH's attentional pooler + LayerNorm
      (``encode_image(proj_contrast=False)``, the card's image features);
    - ``'attn_pool_proj'``: the same times CONCH's contrastive projection
      (``proj_contrast=True``, the space shared with CONCH's text encoder).

    Args:
        arch (str): A key of ``FOUNDATION_MODELS``.
        checkpoint (str, optional): Local weight file or folder (a Hugging
            Face folder for Phikon / Phikon-v2). Never downloaded.
        allow_random_init (bool): Accept random weights (tests, demos).
            Defaults to False.
        arch_overrides (dict, optional): Architecture arguments replacing the
            card's (tiny test models).
        pooling (str, optional): One of ``POOLINGS``; the card's when None.
        input_size (int, optional): The card's when None.
        mean (Sequence[float], optional): The card's when None.
        std (Sequence[float], optional): The card's when None.
        normalize (bool): Normalise with mean / std. Defaults to True.
    """

    def __init__(self,
                 arch: str,
                 checkpoint: Optional[str] = None,
                 allow_random_init: bool = False,
                 arch_overrides: Optional[dict] = None,
                 pooling: Optional[str] = None,
                 input_size: Optional[int] = None,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 normalize: bool = True) -> None:
        spec = foundation_spec(arch)
        super().__init__(
            input_size=input_size or spec['input_size'],
            mean=mean or spec['mean'],
            std=std or spec['std'],
            normalize=normalize)
        self.arch = arch
        self.library = spec['library']
        self.pooling = pooling or spec['pooling']
        if self.pooling not in POOLINGS:
            raise ValueError(f'pooling must be one of {POOLINGS}, got '
                             f'{self.pooling!r}')
        if self.pooling.startswith('attn_pool') != (self.library == 'conch'):
            raise ValueError(f'pooling {self.pooling!r} does not apply to '
                             f'{arch}')
        load = check_weights(
            checkpoint, allow_random_init, spec['files'],
            f'huggingface.co/{spec["hub_id"]} ({spec["licence"]}), '
            'downloaded by you', f'FoundationModelEncoder[{arch}]')
        with fixed_random_init():
            self.model = build_foundation_model(spec, arch_overrides)
        if load:
            ignored = load_foundation_weights(self.model, spec, checkpoint)
            print_log(
                f'{arch} weights loaded from {checkpoint}' +
                (f' ({len(ignored)} keys of other towers ignored)'
                 if ignored else ''),
                logger='current')
        self.num_prefix_tokens = getattr(self.model, 'num_prefix_tokens', 1)
        self.out_channels = self._feature_dim()
        self.weights_source = checkpoint if load else 'random'
        self.freeze()

    def _feature_dim(self) -> int:
        """Size of the pooled feature, read from the built model."""
        if self.library == 'timm':
            width = self.model.embed_dim
        elif self.library == 'transformers':
            width = self.model.config.hidden_size
        elif self.pooling == 'attn_pool_proj':
            width = self.model.proj_contrast.shape[1]
        else:
            width = self.model.ln_contrast.normalized_shape[0]
        return 2 * width if self.pooling == 'cls+mean_patch' else width

    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[B, 3, S, S] -> [B, out_channels]``."""
        if self.library == 'conch':
            tokens = self.model.trunk(pixels)
            pooled = self.model.ln_contrast(
                self.model.attn_pool_contrast(tokens)[:, 0])
            if self.pooling == 'attn_pool_proj':
                pooled = pooled @ self.model.proj_contrast
            return pooled
        if self.library == 'transformers':
            tokens = run_hf_vit(self.model, pixels).last_hidden_state
        else:
            tokens = self.model.forward_features(pixels)
        cls = tokens[:, 0]
        if self.pooling == 'cls':
            return cls
        patches = tokens[:, self.num_prefix_tokens:]
        return torch.cat([cls, patches.mean(1)], dim=-1)
