from .metrics import HistoSegMetric

__all__ = ['HistoSegMetric']
