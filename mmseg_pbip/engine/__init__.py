from .hooks import WeightSourceCheckHook

__all__ = ['WeightSourceCheckHook']
