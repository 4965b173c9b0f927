"""Read bank patches through an MMSeg pipeline and data preprocessor."""
import copy
from typing import Optional, Sequence

import numpy as np
import torch
from mmcv.transforms import Compose, LoadImageFromFile
from mmengine.config import ConfigDict
from mmseg.registry import MODELS, TRANSFORMS

from ..models.utils.image_space import rgb01, stretch_whole

DEFAULT_PIPELINE = (dict(type='LoadHistoImageFromFile'),
                    dict(type='PackSegInputs'))


def plain(cfg):
    """A config (``ConfigDict``, lists, tuples) as plain dicts and lists."""
    if isinstance(cfg, (dict, ConfigDict)):
        return {k: plain(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [plain(v) for v in cfg]
    return cfg


class BankImageReader:
    """Read a bank patch as the encoder expects it, ``[3, H, W]`` float32.

    The patch goes through ``pipeline`` (MMSeg transforms ending in a
    packing transform: ``{'img_path': path}`` -> ``inputs``, the decoded
    image ``[3, H, W]`` uint8, BGR as OpenCV decodes it), then:

    - ``input_space='inputs'`` (released): ``data_preprocessor`` (a
      ``SegDataPreProcessor`` config, the network's: channel order,
      ``mean`` / ``std``), run on the CPU without padding, the network's
      input space;
    - ``input_space='rgb01'``: RGB in [0, 1] (the encoder normalises it
      itself), :func:`~mmseg_pbip.models.utils.image_space.rgb01`, the
      conversion the segmentors use;

    then, when ``stretch`` (released), the whole tensor min-max stretched to
    [0, 1] (:func:`~mmseg_pbip.models.utils.image_space.stretch_whole`).
    The released bank's random flips / rotation are a pipeline transform,
    ``SeededFlipRotate90`` (see :func:`bank_pipeline`).

    Args:
        input_space (str): 'rgb01' or 'inputs'. Defaults to 'rgb01'.
        pipeline (Sequence[dict], optional): Transforms. Defaults to
            ``LoadHistoImageFromFile``, ``PackSegInputs``.
        data_preprocessor (dict, optional): The network's preprocessor
            config; needed with ``input_space='inputs'``.
        stretch (bool): Whole-tensor min-max. Defaults to False.
    """

    def __init__(self,
                 input_space: str = 'rgb01',
                 pipeline: Optional[Sequence[dict]] = None,
                 data_preprocessor: Optional[dict] = None,
                 stretch: bool = False) -> None:
        if input_space not in ('rgb01', 'inputs'):
            raise ValueError("bank input_space must be 'rgb01' or 'inputs', "
                             f'got {input_space!r}')
        if input_space == 'inputs' and data_preprocessor is None:
            raise ValueError("bank input_space='inputs' needs the network's "
                             'data_preprocessor')
        self.input_space = input_space
        self.pipeline_cfg = plain(pipeline or DEFAULT_PIPELINE)
        self.pipeline = Compose(
            [TRANSFORMS.build(copy.deepcopy(t)) for t in self.pipeline_cfg])
        self.preprocessor_cfg = plain(data_preprocessor)
        self.preprocessor = None
        if data_preprocessor is not None:  # its normalisation, no padding
            self.preprocessor = MODELS.build(
                dict(self.preprocessor_cfg, test_cfg=None))
        self.stretch = stretch

    @property
    def settings(self) -> dict:
        """dict: The reader's settings (plain values, stored in banks)."""
        return dict(
            input_space=self.input_space,
            pipeline=self.pipeline_cfg,
            data_preprocessor=self.preprocessor_cfg,
            stretch=self.stretch)

    def load(self, path: str) -> torch.Tensor:
        """The pipeline's image: ``[3, H, W]`` uint8, BGR."""
        return self.pipeline(dict(img_path=path, seg_fields=[]))['inputs']

    def rgb01(self, path: str) -> np.ndarray:
        """The pipeline's image as ``[H, W, 3]`` float32 RGB in [0, 1]."""
        img = rgb01(self.load(path)[None], bgr=True)[0]
        return np.ascontiguousarray(img.permute(1, 2, 0).numpy())

    @torch.no_grad()
    def __call__(self, path: str) -> np.ndarray:
        img = self.load(path)
        if self.input_space == 'rgb01':
            img = rgb01(img[None], bgr=True)
        else:
            img = self.preprocessor(dict(inputs=[img]), False)['inputs']
        if self.stretch:
            img = stretch_whole(img)
        return img[0].numpy()


def image_loader(pipeline: Sequence[dict]) -> dict:
    """The first transform of ``pipeline`` that loads the image (an
    ``mmcv.transforms.LoadImageFromFile``), e.g. the training pipeline's."""
    for t in pipeline or []:
        cls = t.get('type')
        cls = TRANSFORMS.get(cls) if isinstance(cls, str) else cls
        if isinstance(cls, type) and issubclass(cls, LoadImageFromFile):
            return t
    raise ValueError('the image bank reads patches with the training '
                     "pipeline's image loader (a LoadImageFromFile), but "
                     f'the pipeline has none: {plain(pipeline)}')


def bank_pipeline(load: dict, augment: bool = False, seed: int = 42) -> list:
    """The bank's pipeline: the training images' ``load`` transform, then, when
    ``augment`` (released), ``SeededFlipRotate90(seed)``, then
    ``PackSegInputs``."""
    flips = [dict(type='SeededFlipRotate90', seed=seed)] if augment else []
    return [plain(load)] + flips + [dict(type='PackSegInputs')]
