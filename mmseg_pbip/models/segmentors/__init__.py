from .histo_tta_model import HistoTTAModel
from .pbip_segmentor import PBIPSegmentor
from .pscl_segmentor import PSCLSegmentor
from .wsss_cam_segmentor import WSSSCAMSegmentor, without_test_views

__all__ = [
    'WSSSCAMSegmentor', 'PBIPSegmentor', 'PSCLSegmentor', 'HistoTTAModel',
    'without_test_views'
]
