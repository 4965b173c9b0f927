from .nvlabs_mit import NVLabsMixVisionTransformer

__all__ = ['NVLabsMixVisionTransformer']
