from .clip_vision_encoder import CLIPVisionEncoder
from .dinov2_encoder import DINOv2Encoder
from .foundation_model_encoder import FoundationModelEncoder
from .frozen_image_encoder import FrozenImageEncoder
from .medclip_vision_encoder import MedCLIPVisionEncoder

__all__ = [
    'FrozenImageEncoder', 'MedCLIPVisionEncoder', 'CLIPVisionEncoder',
    'DINOv2Encoder', 'FoundationModelEncoder'
]
