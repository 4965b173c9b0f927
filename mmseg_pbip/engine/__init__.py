from .hooks import ImageBankHook, WeightSourceCheckHook

__all__ = ["ImageBankHook", "WeightSourceCheckHook"]
