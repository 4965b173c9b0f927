"""Pathology foundation models as frozen prototype encoders."""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmseg.registry import MODELS

from ..utils.foundation_models import (build_foundation_model, foundation_spec,
                                       input_transform,
                                       load_foundation_weights, run_hf_vit)
from .frozen_image_encoder import (FrozenImageEncoder, check_weights,
                                   fixed_random_init)

POOLINGS = ('cls', 'cls+mean_patch', 'attn_pool', 'attn_pool_proj')


@MODELS.register_module()
class FoundationModelEncoder(FrozenImageEncoder):
    """A pathology foundation model (UNI, UNI2-h, Virchow2, H-optimus-0/1,
    Phikon, Phikon-v2, CONCH) as the frozen encoder of the image bank and of
    PBIP's FG/BG images.

    The architecture, input transform and pooling are those the authors
    publish (``mmseg_pbip.models.utils.foundation_models.FOUNDATION_MODELS``
    says where each comes from), so one config line swaps encoders::

        image_encoder=dict(type='FoundationModelEncoder', arch='uni',
                           checkpoint='pretrained/uni/pytorch_model.bin')

    The encoder takes RGB in [0, 1] (``ImgMatchLoss.image_space='rgb01'``,
    ``ImageBankHook.input_space='rgb01'``), resizes it as the model's
    published transform does and normalises it with the model's own
    statistics, so the bank and the loss see the model's own input space.
    The resize is the card's because the features depend on it: bilinear
    and bicubic kernels, antialiasing (PIL always filters, a plain tensor
    interpolation does not) and squashing a non-square image instead of
    cropping its centre each move the embedding; CONCH upsamples every
    224 px patch to 448, so its kernel always matters. ``interpolation``,
    ``antialias`` and ``center_crop`` override the card's values.

    Poolings (``[B, 3, S, S] -> [B, feature_dim]``):

    - ``'cls'``: the class token after the final norm (UNI, UNI2-h,
      H-optimus, Phikon, Phikon-v2);
    - ``'cls+mean_patch'``: class token concatenated with the mean of the
      patch tokens, register tokens excluded (Virchow2, 2 x 1280);
    - ``'attn_pool'``: CONCH's attentional pooler + LayerNorm
      (``encode_image(proj_contrast=False, normalize=False)``, the features
      the card recommends for downstream tasks);
    - ``'attn_pool_proj'``: CONCH's image-text space,
      ``encode_image(proj_contrast=True, normalize=True)``: the same times
      the contrastive projection, L2-normalised.

    Args:
        arch (str): A key of ``FOUNDATION_MODELS``.
        checkpoint (str, optional): Local weight file or folder (a Hugging
            Face folder for Phikon / Phikon-v2, whose ``config.json`` and
            ``preprocessor_config.json`` then decide the architecture and
            the input transform). Never downloaded.
        allow_random_init (bool): Accept random weights (tests, demos).
            Defaults to False.
        arch_overrides (dict, optional): Architecture arguments replacing the
            card's (tiny test models).
        pooling (str, optional): One of ``POOLINGS``; the card's when None.
        input_size (int, optional): The card's when None; when given,
            also the shorter side before a centre crop.
        mean (Sequence[float], optional): The card's when None.
        std (Sequence[float], optional): The card's when None.
        normalize (bool): Normalise with mean / std. Defaults to True.
        interpolation (str, optional): ``'bilinear'`` / ``'bicubic'``; the
            card's when None.
        antialias (bool, optional): The card's when None.
        center_crop (bool, optional): Shorter side to ``input_size`` then
            centre crop (True) or squash (False); the card's when None.
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
                 normalize: bool = True,
                 interpolation: Optional[str] = None,
                 antialias: Optional[bool] = None,
                 center_crop: Optional[bool] = None) -> None:
        spec = foundation_spec(arch)
        card = input_transform(spec, checkpoint)
        resize = dict(card['resize'])
        for key, value in (('interpolation', interpolation),
                           ('antialias', antialias), ('center_crop',
                                                      center_crop)):
            if value is not None:
                resize[key] = value
        if input_size:  # the crop and the shorter side follow it
            resize['resize_size'] = input_size
        super().__init__(
            input_size=input_size or card['input_size'],
            mean=mean or card['mean'],
            std=std or card['std'],
            normalize=normalize,
            **resize)
        self.arch = arch
        self.library = spec['library']
        self.pooling = pooling or spec['pooling']
        self._check_pooling()
        load = check_weights(
            checkpoint, allow_random_init, spec['files'],
            f'huggingface.co/{spec["hub_id"]} ({spec["licence"]}), '
            'downloaded by you', f'FoundationModelEncoder[{arch}]')
        with fixed_random_init():
            self.model = build_foundation_model(
                spec, arch_overrides, checkpoint=checkpoint if load else None)
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

    def _check_pooling(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f'pooling must be one of {POOLINGS}, got '
                             f'{self.pooling!r}')
        if self.pooling.startswith('attn_pool') != (self.library == 'conch'):
            raise ValueError(f'pooling {self.pooling!r} does not apply to '
                             f'{self.arch}')

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
                pooled = F.normalize(pooled @ self.model.proj_contrast, dim=-1)
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
