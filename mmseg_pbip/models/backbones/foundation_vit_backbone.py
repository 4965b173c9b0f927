"""Pathology foundation ViTs as dense backbones of the CAM network."""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from ..encoders.frozen_image_encoder import check_weights, fixed_random_init
from ..utils.foundation_models import (build_foundation_model, foundation_spec,
                                       load_foundation_weights, run_hf_vit)


@MODELS.register_module()
class FoundationViTBackbone(BaseModule):
    """A foundation model's ViT giving multi-level feature maps.

    timm models (UNI, UNI2-h, Virchow2, H-optimus, and CONCH's timm trunk)
    use timm's own ``forward_intermediates`` (prefix tokens removed, NCHW)
    and ``prune_intermediate_layers``; Phikon / Phikon-v2 use transformers'
    hidden states, reshaped the same way. Blocks after the deepest taken one
    are dropped. All outputs have stride = patch size, e.g. four
    ``[B, 1024, 14, 14]`` maps for UNI at 224 px.

    The ViT is frozen except for its last ``trainable_blocks`` blocks (and
    the final norm when ``norm_outputs`` and any block trains); frozen parts
    stay in eval mode.

    The network input must be in the model's input space: the configs set
    the data preprocessor's mean / std to the model card's.

    Why not MMSeg's ``TIMMBackbone`` or mmpretrain's ``VisionTransformer``:
    the former has no freezing, takes no class-valued layer arguments from a
    config (``mlp_layer=SwiGLUPacked``) and loads through timm without the
    key / shape report or CONCH's ``visual.trunk.`` layout; the latter has
    neither SwiGLU-packed MLPs with register tokens nor the published key
    names, so every checkpoint would need converting. The feature maps
    themselves come from timm's own ``forward_intermediates``.

    Args:
        arch (str): A key of ``FOUNDATION_MODELS``.
        checkpoint (str, optional): Local weight file or folder. For CONCH
            its whole ``pytorch_model.bin`` (the trunk ``visual.trunk.*`` is
            taken); for Phikon / Phikon-v2 the Hugging Face folder, whose
            ``config.json`` is then the configuration.
        allow_random_init (bool): Accept random weights. Defaults to False.
        out_indices (Sequence[int], optional): Blocks whose outputs are
            returned (negative from the end). Defaults to four evenly spaced
            blocks ending with the last (``(5, 11, 17, 23)`` for depth 24).
        trainable_blocks (int): Last blocks fine-tuned. Defaults to 0
            (frozen).
        norm_outputs (bool): Apply the final LayerNorm to every output.
            Defaults to True.
        arch_overrides (dict, optional): Architecture arguments replacing the
            card's (tiny test models).
        init_cfg (dict, optional): Unused; weights come from ``checkpoint``.
    """

    def __init__(self,
                 arch: str,
                 checkpoint: Optional[str] = None,
                 allow_random_init: bool = False,
                 out_indices: Optional[Sequence[int]] = None,
                 trainable_blocks: int = 0,
                 norm_outputs: bool = True,
                 arch_overrides: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        spec = foundation_spec(arch)
        self.arch = arch
        self.library = 'transformers' \
            if spec['library'] == 'transformers' else 'timm'
        load = check_weights(
            checkpoint, allow_random_init, spec['files'],
            f'huggingface.co/{spec["hub_id"]} ({spec["licence"]}), '
            'downloaded by you', f'FoundationViTBackbone[{arch}]')
        if spec['library'] == 'timm':
            # Feature maps at any input size (pos-embedding interpolation;
            # the weights are unchanged).
            arch_overrides = dict(
                dict(dynamic_img_size=True), **(arch_overrides or {}))
        with fixed_random_init():
            model = build_foundation_model(
                spec, arch_overrides, checkpoint=checkpoint if load else None)
        vit = model.trunk if spec['library'] == 'conch' else model
        if load:
            load_foundation_weights(
                vit,
                spec,
                checkpoint,
                part='trunk' if spec['library'] == 'conch' else 'model')
            print_log(
                f'{arch} backbone weights loaded from {checkpoint}',
                logger='current')
        depth = self._depth(vit)
        if out_indices is None:
            out_indices = sorted(
                {round(depth * (i + 1) / 4) - 1
                 for i in range(4)})
        self.out_indices = [i % depth for i in out_indices]
        if len(set(self.out_indices)) != len(self.out_indices):
            raise ValueError(f'out_indices {list(out_indices)} repeat a block')
        # timm stacks are pruned after the deepest taken block; the trainable
        # blocks are the last ones that are run.
        used = max(self.out_indices) + 1
        if not 0 <= trainable_blocks <= used:
            raise ValueError(f'trainable_blocks must be in [0, {used}] (the '
                             f'blocks up to out_indices), got '
                             f'{trainable_blocks}')
        self.trainable_blocks = trainable_blocks
        self.norm_outputs = norm_outputs
        if self.library == 'timm':
            vit.prune_intermediate_layers(
                self.out_indices, prune_norm=not norm_outputs, prune_head=True)
        else:  # the layers after the deepest taken one are never used
            vit.encoder.layer = vit.encoder.layer[:used]
        self.vit = vit
        self.embed_dims = self._width(vit)
        self.weights_source = checkpoint if load else 'random'
        self._freeze()

    @staticmethod
    def _depth(vit: nn.Module) -> int:
        if hasattr(vit, 'blocks'):
            return len(vit.blocks)
        return vit.config.num_hidden_layers

    @staticmethod
    def _width(vit: nn.Module) -> int:
        if hasattr(vit, 'embed_dim'):
            return vit.embed_dim
        return vit.config.hidden_size

    def _blocks(self) -> nn.ModuleList:
        if self.library == 'timm':
            return self.vit.blocks
        return self.vit.encoder.layer

    def _trainable_modules(self) -> List[nn.Module]:
        """The modules that are fine-tuned."""
        if not self.trainable_blocks:
            return []
        blocks = self._blocks()
        modules = list(blocks[len(blocks) - self.trainable_blocks:])
        if self.norm_outputs:
            norm = self.vit.norm if self.library == 'timm' \
                else self.vit.layernorm
            modules.append(norm)
        return modules

    def _freeze(self) -> None:
        """Freeze everything, then unfreeze the trainable modules."""
        for p in self.vit.parameters():
            p.requires_grad_(False)
        for module in self._trainable_modules():
            for p in module.parameters():
                p.requires_grad_(True)
        self.train(self.training)

    def train(self, mode: bool = True):
        """Frozen parts stay in eval mode; trainable blocks follow ``mode``."""
        super().train(False)
        self.training = mode
        for module in self._trainable_modules():
            module.train(mode)
        return self

    def init_weights(self) -> None:
        """Weights come from ``checkpoint`` at construction."""

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Feature maps of the ``out_indices`` blocks.

        Args:
            x (Tensor): ``[B, 3, H, W]`` in the model's input space; H and W
                multiples of the patch size.

        Returns:
            list[Tensor]: ``[B, C, H / p, W / p]`` per taken block.
        """
        if self.library == 'timm':
            return self.vit.forward_intermediates(
                x,
                indices=self.out_indices,
                norm=self.norm_outputs,
                output_fmt='NCHW',
                intermediates_only=True)
        out = run_hf_vit(self.vit, x, output_hidden_states=True)
        patch = self.vit.config.patch_size
        h, w = x.shape[-2] // patch, x.shape[-1] // patch
        maps = []
        for i in self.out_indices:
            tokens = out.hidden_states[i + 1]
            if self.norm_outputs:
                tokens = self.vit.layernorm(tokens)
            tokens = tokens[:, tokens.shape[1] - h * w:]
            maps.append(
                tokens.transpose(1, 2).reshape(x.shape[0], -1, h,
                                               w).contiguous())
        return maps
