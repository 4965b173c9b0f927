from .histo_seg_metric import HistoSegMetric
from .pseudo_label_writer import PseudoLabelWriter

__all__ = ['HistoSegMetric', 'PseudoLabelWriter']
