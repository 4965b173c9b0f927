from .img_match_loss import ImgMatchLoss
from .multi_stage_cls_loss import MultiStageClsLoss

__all__ = ['ImgMatchLoss', 'MultiStageClsLoss']
