from .histo_seg_metric import HistoSegMetric

__all__ = ['HistoSegMetric']
