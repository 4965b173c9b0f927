"""MMDetection's model components, for PSCL's Mask2Former stage two.

MMSeg's ``Mask2FormerHead`` builds its pixel decoder, transformer decoder,
assigner and losses from mmdet's registries (``type='mmdet.…'``), which
``import mmdet.models`` fills. The Mask2Former configs name this module in
``custom_imports`` instead of ``mmdet.models`` so that, without the ``pscl``
extra, loading such a config fails with the extra to install. ``import
mmseg_pbip`` does not import this module: the package needs no mmdet.
"""
from ..utils import import_optional

import_optional('mmdet.models')
