"""Synthetic whole slides in real formats, and a tiny real classifier.

``write_slide`` (``tools/generate_demo_slide.py``) writes a tiled,
pyramidal TIFF with resolution tags (what scanners' generic TIFF exports
look like, read by OpenSlide and tiffslide) whose known layout of tissue
regions is painted with the demo generator's textures. ``ColourSegmentor``
is a real (if tiny) MMSeg segmentor: a 1x1 convolution whose weights are
the classes' mean colours, i.e. a nearest mean-colour classifier of the
locally averaged image. It lets the tests measure the geometry of
whole-slide inference (reading, tiling, blending, stitching, exporting)
against the known layout.
"""
import os.path as osp
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS

sys.path.insert(
    0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools'))
from generate_demo_slide import (  # noqa: E402,F401 isort: skip
    paint, slide_layout, write_slide)
from synthetic_he import _texture  # noqa: E402 isort: skip

CLASSES = ('TUM', 'STR', 'LYM', 'NEC', 'BACK')


def class_colours(size: int = 512, seed: int = 0) -> np.ndarray:
    """Mean RGB colour of each class's texture at the painting size, ``[5, 3]``
    in [0, 1]."""
    rng = np.random.default_rng(seed)
    return np.stack([
        np.clip(_texture(rng, c, size), 0, 255).reshape(-1, 3).mean(0) / 255
        for c in range(5)
    ])


@MODELS.register_module()
class ColourSegmentor(BaseSegmentor):
    """Nearest mean colour of the ``pool``-averaged image, as logits.

    ``logits_c = 2 <x, mu_c> - |mu_c|^2`` (= ``-|x - mu_c|^2`` up to a
    term common to all classes) by a 1x1 convolution, on the image
    averaged over ``pool`` x ``pool`` pixels, in RGB [0, 1].
    """

    def __init__(self,
                 colours,
                 pool: int = 15,
                 data_preprocessor=None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        mu = torch.tensor(colours, dtype=torch.float32)
        self.classifier = nn.Conv2d(3, len(colours), 1)
        with torch.no_grad():
            self.classifier.weight.copy_(2 * mu[:, :, None, None])
            self.classifier.bias.copy_(-(mu**2).sum(1))
        self.pool = pool

    def extract_feat(self, inputs):
        x = inputs / 255.
        return F.avg_pool2d(
            x, self.pool, 1, self.pool // 2, count_include_pad=False)

    def encode_decode(self, inputs, batch_img_metas):
        return self.classifier(self.extract_feat(inputs)) * 50

    def _forward(self, inputs, data_samples=None):
        return self.encode_decode(inputs, None)

    def loss(self, inputs, data_samples):
        raise NotImplementedError('a fixed classifier')

    def predict(self, inputs, data_samples=None):
        logits = self.encode_decode(inputs, None)
        for i, sample in enumerate(data_samples):
            sample.set_data(
                dict(
                    seg_logits=PixelData(data=logits[i]),
                    pred_sem_seg=PixelData(data=logits[i].argmax(0)[None])))
        return data_samples


def write_colour_model(tmp_dir: str, colours) -> tuple:
    """A config and a checkpoint of the colour classifier (BCSS-WSSS classes),
    as files a user would pass to ``tools/infer_wsi.py``."""
    cfg_path = osp.join(tmp_dir, 'colour_seg.py')
    here = osp.dirname(osp.abspath(__file__))
    base = osp.join(
        osp.dirname(here), 'configs', '_base_', 'datasets', 'bcss-wsss.py')
    with open(cfg_path, 'w') as f:
        f.write(f'''_base_ = [{base!r}]
custom_imports = dict(imports=['mmseg_pbip', 'wsi_helpers'],
                      allow_failed_imports=False)
model = dict(
    type='ColourSegmentor',
    colours={[[float(v) for v in c] for c in colours]!r},
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[0, 0, 0],
                           std=[1, 1, 1], bgr_to_rgb=True,
                           size=(224, 224)))
''')
    model = ColourSegmentor(colours)
    ckpt = osp.join(tmp_dir, 'colour_seg.pth')
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=CLASSES))), ckpt)
    return cfg_path, ckpt
