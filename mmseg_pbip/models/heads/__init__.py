from .prototype_sim_head import PrototypeSimHead

__all__ = ['PrototypeSimHead']
