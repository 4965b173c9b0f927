"""MMSeg's MiT with the LayerNorm epsilons of the NVlabs original."""
from mmseg.models.backbones import MixVisionTransformer
from mmseg.registry import MODELS


@MODELS.register_module()
class NVLabsMixVisionTransformer(MixVisionTransformer):
    """:class:`mmseg.models.backbones.MixVisionTransformer` whose norms use the
    epsilons of the NVlabs SegFormer code (and the released PBIP code).

    MMSeg builds every LayerNorm from one ``norm_cfg`` (eps 1e-6). The
    NVlabs MiT uses eps 1e-6 in the blocks and the stage norms but torch's
    default 1e-5 in the four overlapping patch embeddings and in the
    spatial-reduction norms of the attention (stages with ``sr_ratio > 1``).
    With NVlabs weights the features then differ by about 1e-4; this class
    sets those norms' eps so that they match. Weights and keys are
    MMSeg's (convert NVlabs checkpoints with MMSeg's ``mit2mmseg.py``).

    Args:
        patch_embed_norm_eps (float): eps of the patch-embedding norms.
            Defaults to 1e-5.
        sr_norm_eps (float): eps of the spatial-reduction norms.
            Defaults to 1e-5.
        **kwargs: :class:`MixVisionTransformer` arguments.
    """

    def __init__(self,
                 patch_embed_norm_eps: float = 1e-5,
                 sr_norm_eps: float = 1e-5,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        for patch_embed, blocks, _ in self.layers:
            patch_embed.norm.eps = patch_embed_norm_eps
            for block in blocks:
                if block.attn.sr_ratio > 1:
                    block.attn.norm.eps = sr_norm_eps
