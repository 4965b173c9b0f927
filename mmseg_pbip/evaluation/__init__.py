from .metrics import HistoSegMetric, PseudoLabelWriter

__all__ = ['HistoSegMetric', 'PseudoLabelWriter']
