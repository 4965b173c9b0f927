from .pbip_segmentor import PBIPSegmentor

__all__ = ['PBIPSegmentor']
