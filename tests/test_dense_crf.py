"""Dense CRF refinement of CAM pseudo masks (optional extra pydensecrf2)."""
import glob
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from PIL import Image
from utils import PBIP_DEMO, REPO, run, tiny_pbip_options

from mmseg_pbip.models.utils import DenseCRF


def noisy_two_region_case(seed=0, flip=0.25):
    """Left half red (class 0), right half blue (class 2), class 1 labelled but
    absent; CAMs that are right on 75 % of pixels, wrong at random."""
    rng = np.random.RandomState(seed)
    h, w = 48, 64
    truth = np.zeros((h, w), np.int64)
    truth[:, w // 2:] = 2
    image = np.zeros((h, w, 3), np.uint8)
    image[truth == 0] = (200, 40, 40)
    image[truth == 2] = (40, 40, 200)
    noisy = truth.copy()
    wrong = rng.rand(h, w) < flip
    noisy[wrong] = np.where(truth[wrong] == 0, 2, 0)
    cams = np.zeros((4, h, w), np.float32)
    for c in range(4):
        cams[c] = (noisy == c) * 0.6 + rng.rand(h, w) * 0.2
    cams[3] = 0  # absent from the image label
    return image, cams, noisy, truth


def test_dense_crf_cleans_a_noisy_mask():
    image, cams, noisy, truth = noisy_two_region_case()
    present = np.array([True, True, True, False])
    refined = DenseCRF()(image, cams, present)
    noisy_acc = (noisy == truth).mean()
    refined_acc = (refined == truth).mean()
    assert noisy_acc < 0.8
    assert refined_acc > 0.98
    assert not (refined == 3).any()  # never an unlabelled class
    single = DenseCRF()(image, cams, np.array([False, False, True, False]))
    assert (single == 2).all()
    with pytest.raises(ValueError, match='uint8'):
        DenseCRF()(image.astype(np.float32), cams)


def test_crf_in_the_segmentor_keeps_background(demo_root):
    cfg = Config.fromfile(PBIP_DEMO)
    cfg.merge_from_dict({
        k: v
        for k, v in tiny_pbip_options(demo_root, '/tmp/unused').items()
        if k.startswith('model.')
    })
    cfg.model.crf = dict(iterations=5)
    model = MODELS.build(cfg.model).eval()
    k = [1, 2, 1, 1]
    model.head.set_prototypes(torch.randn(sum(k), model.head.prototype_dim), k)
    image = torch.rand(3, 32, 32)
    cams = torch.rand(4, 32, 32)
    pred = cams.argmax(0)
    pred[:8] = 4  # background (e.g. glass under white_threshold)
    two = model.crf_refined(image, cams, pred, torch.tensor([1., 0., 1., 0.]))
    assert (two[:8] == 4).all()
    assert set(two[8:].unique().tolist()) <= {0, 2}
    one = model.crf_refined(image, cams, pred, torch.tensor([0., 1., 0., 0.]))
    assert (one[8:] == 1).all() and (one[:8] == 4).all()
    # through predict: padded inputs, the CRF sees the image only
    inputs = torch.randn(2, 3, 32, 32)
    samples = []
    for label in ([1., 0., 1., 0.], [0., 1., 0., 1.]):
        sample = SegDataSample(
            metainfo=dict(img_shape=(24, 32), ori_shape=(24, 32)))
        sample.gt_cls_label = torch.tensor(label)
        samples.append(sample)
    with torch.no_grad():
        out = model.predict(inputs, samples)
    for sample, allowed in zip(out, ({0, 2, 4}, {1, 3, 4})):
        assert sample.pred_sem_seg.data.shape == (1, 24, 32)
        assert set(sample.pred_sem_seg.data.unique().tolist()) <= allowed


def test_pseudo_label_tool_with_crf(demo_root, tmp_path):
    """tools/generate_pseudo_labels.py --crf on a tiny PBIP run: every image
    gets a pseudo label among its labelled classes (or background)."""
    work = str(tmp_path / 'work')
    cfg = Config.fromfile(PBIP_DEMO)
    cfg.merge_from_dict(tiny_pbip_options(demo_root, work))
    Runner.from_cfg(cfg).train()
    config = str(tmp_path / 'tiny.py')
    cfg.dump(config)
    out_dir = str(tmp_path / 'pseudo')
    _, out = run([
        osp.join(REPO, 'tools', 'generate_pseudo_labels.py'), config,
        osp.join(work, 'iter_2.pth'), '--out-dir', out_dir, '--crf'
    ])
    assert 'CRF on' in out
    pngs = sorted(glob.glob(osp.join(out_dir, '*.png')))
    assert len(pngs) == 32
    for path in pngs:
        labels = re.search(r'\[(\d{4})\]', path).group(1)
        present = {i for i, c in enumerate(labels) if c == '1'}
        values = set(np.unique(np.asarray(Image.open(path))).tolist())
        assert values <= present | {4}, (path, values)


def test_missing_extra_is_named(monkeypatch):
    """Without pydensecrf2 the error says what to install."""
    import sys
    monkeypatch.setitem(sys.modules, 'pydensecrf', None)
    monkeypatch.setitem(sys.modules, 'pydensecrf.densecrf', None)
    with pytest.raises(ImportError, match=r"'pydensecrf2'.*mmseg-pbip\[crf\]"):
        DenseCRF()


def test_crf_model_can_be_copied():
    """No module objects on the refiner: a segmentor with crf deep-copies
    (EMA hooks, TTA wrappers, spawned workers)."""
    import copy
    crf = copy.deepcopy(DenseCRF(iterations=3))
    image, cams, _, truth = noisy_two_region_case()
    assert (crf(image, cams) == truth).mean() > 0.9
