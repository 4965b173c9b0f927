from .img_match_loss import ImgMatchLoss
from .multi_label_soft_margin_loss import MultiLabelSoftMarginLoss
from .multi_stage_cls_loss import MultiStageClsLoss
from .pscl_loss import PSCLLoss
from .supcon_loss import SupConLoss

__all__ = [
    'ImgMatchLoss', 'MultiLabelSoftMarginLoss', 'MultiStageClsLoss',
    'PSCLLoss', 'SupConLoss'
]
