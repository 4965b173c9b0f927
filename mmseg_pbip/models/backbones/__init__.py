from .foundation_vit_backbone import FoundationViTBackbone
from .nvlabs_mit import NVLabsMixVisionTransformer

__all__ = ['NVLabsMixVisionTransformer', 'FoundationViTBackbone']
