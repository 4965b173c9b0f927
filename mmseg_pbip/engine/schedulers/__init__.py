from .exclusive_end_poly_lr import ExclusiveEndPolyLR

__all__ = ['ExclusiveEndPolyLR']
