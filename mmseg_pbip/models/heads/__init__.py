from .cam_cls_head import CAMClsHead
from .prototype_sim_head import PrototypeSimHead

__all__ = ["CAMClsHead", "PrototypeSimHead"]
