"""Image bank: selection, white filter, K-means, file round trip."""
import os.path as osp
import zlib

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from mmseg_pbip.image_bank import (build_image_bank, load_image_bank,
                                   save_image_bank, single_label_indices,
                                   white_fraction)


class MeanColourEncoder(nn.Module):
    """A real (if tiny) encoder: mean colour and its square, ``[B, 6]``."""
    out_channels = 6
    description = 'MeanColourEncoder'

    def __init__(self):
        super().__init__()
        self.register_buffer('dummy', torch.zeros(1))

    def forward(self, x):
        m = x.mean((2, 3))
        return torch.cat([m, m**2], 1) + 1e-3


def write(path, colour, white=0.0, size=16):
    img = np.zeros((size, size, 3), np.uint8)
    img[:] = colour
    rows = int(round(white * size))
    img[:rows] = 250
    Image.fromarray(img).save(path)
    return path


@pytest.fixture
def patches(tmp_path):
    """Class 0: two colour modes; class 1: one; plus a white and a mixed
    patch; class 2 has a single patch."""
    paths, labels = [], []

    def add(colour, label, white=0.0):
        paths.append(
            write(str(tmp_path / f'p{len(paths)}.png'), colour, white))
        labels.append(label)

    for i in range(4):
        add((200 - i, 40, 40), [1, 0, 0])  # reddish
        add((40, 40, 200 - i), [1, 0, 0])  # bluish
        add((40, 200 - i, 40), [0, 1, 0])
    add((120, 60, 160), [1, 0, 0], white=0.9)  # mostly glass
    add((0, 0, 0), [1, 1, 0])  # two labels: never in the bank
    add((90, 90, 10), [0, 0, 1])
    return paths, np.asarray(labels)


def test_selection_helpers(patches):
    paths, labels = patches
    groups = single_label_indices(labels)
    assert len(groups[0]) == 9 and len(groups[1]) == 4 and groups[2] == [14]
    assert 13 not in sum(groups.values(), [])
    img = np.asarray(Image.open(paths[12])).astype(np.float32) / 255
    assert white_fraction(img) == pytest.approx(14 / 16, abs=0.07)


def test_build_bank(patches, tmp_path):
    paths, labels = patches
    bank = build_image_bank(
        paths,
        labels, ['A', 'B', 'C'],
        MeanColourEncoder(),
        k_per_class=2,
        n_per_cluster=3,
        max_white_fraction=0.5,
        prototype_rule='nearest_mean')
    # class C has one usable patch: K degrades to 1
    assert bank['k_per_class'] == [2, 2, 1]
    assert bank['prototypes'].shape == (5, 6)
    members = bank['cluster_members']
    assert all(len(m) <= 3 for m in members)
    assert paths[12] not in sum(members, [])  # white patch filtered
    assert paths[13] not in sum(members, [])  # multi-label never used
    # class A's two clusters separate the red and the blue patches
    reds = {paths[i] for i in range(0, 12, 3)}
    first = set(members[0])
    assert first <= reds or not (first & reds)
    # file round trip with safe loading
    path = str(tmp_path / 'bank.pth')
    save_image_bank(path, bank)
    loaded = load_image_bank(path, ['A', 'B', 'C'], feature_dim=6)
    assert torch.equal(loaded['prototypes'], bank['prototypes'])
    assert loaded['cluster_members'] == members
    with pytest.raises(ValueError, match='differ from the dataset classes'):
        load_image_bank(path, ['A', 'B', 'X'])
    with pytest.raises(ValueError, match='512-d'):
        load_image_bank(path, feature_dim=512)


def test_deterministic(patches):
    paths, labels = patches
    a = build_image_bank(paths, labels, 'ABC', MeanColourEncoder(), 2, 3)
    b = build_image_bank(paths, labels, 'ABC', MeanColourEncoder(), 2, 3)
    assert torch.equal(a['prototypes'], b['prototypes'])


def test_class_without_patches(patches):
    paths, labels = patches
    labels = labels.copy()
    labels[14] = [1, 0, 0]
    with pytest.raises(ValueError, match='class C has no single-label'):
        build_image_bank(paths, labels, 'ABC', MeanColourEncoder())


def test_bad_bank_files(tmp_path):
    marker = tmp_path / 'ran'

    class Payload:

        def __reduce__(self):
            return (open, (str(marker), 'w'))

    evil = str(tmp_path / 'evil.pth')
    torch.save({'prototypes': Payload()}, evil)
    with pytest.raises(ValueError, match='cannot be loaded safely'):
        load_image_bank(evil)
    assert not marker.exists()
    other = str(tmp_path / 'other.pth')
    torch.save({'state_dict': {}}, other)
    with pytest.raises(ValueError, match='not an mmseg-pbip image bank'):
        load_image_bank(other)
    bad = dict(
        prototypes=torch.zeros(3, 4),
        k_per_class=[1, 1],
        class_names=['a', 'b'],
        encoder='x',
        feature_dim=4,
        cluster_members=[])
    with pytest.raises(ValueError, match='inconsistent'):
        save_image_bank(str(tmp_path / 'bad.pth'), bad)
    assert not osp.exists(str(tmp_path / 'bad.pth'))


def test_bank_from_mask_labelled_split(masked_root, tmp_path):
    """BCSS-style training split: labels from masks, read once each."""
    from mmengine.config import ConfigDict

    from mmseg_pbip.engine.hooks import bank_from_config
    cfg = ConfigDict(
        train_dataloader=dict(
            dataset=dict(
                type='BCSSDataset',
                data_root=masked_root,
                data_prefix=dict(
                    img_path='train/img', seg_map_path='train/mask'),
                cls_label_from='mask',
                pipeline=[dict(type='LoadHistoImageFromFile')])))
    # train/case1 is all NEC: the only single-label patch
    with pytest.raises(ValueError, match='class TUM has no single-label'):
        bank_from_config(cfg, MeanColourEncoder(), k_per_class=1)


class ReleasedReader:
    """The bank's encoder input computed here in NumPy as the released code.

    (and this project before the pipeline path) reads it: ``cv2.imread``
    (BGR), ``(x - mean) / std``, a horizontal flip, a vertical flip and
    ``k`` quarter turns drawn from ``crc32(file name) + seed``, the whole
    tensor stretched to [0, 1]; or RGB / 255.
    """
    settings = None

    def __init__(self, space, pre, augment, stretch, seed=42):
        self.space, self.augment, self.stretch = space, augment, stretch
        self.mean = np.asarray(pre['mean'], np.float32)
        self.std = np.asarray(pre['std'], np.float32)
        self.to_rgb, self.seed = pre.get('bgr_to_rgb', False), seed

    def rgb01(self, path):
        img = cv2.cvtColor(
            cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        return img.astype(np.float32) / 255.

    def __call__(self, path):
        if self.space == 'rgb01':
            img = self.rgb01(path)
        else:
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            img = img[..., ::-1] if self.to_rgb else img
            img = (img.astype(np.float32) - self.mean) / self.std
        if self.augment:
            name = osp.basename(path)
            rng = np.random.RandomState(
                (zlib.crc32(name.encode()) + self.seed) % 2**32)
            hflip, vflip = rng.rand() < 0.5, rng.rand() < 0.5
            k = rng.randint(0, 4) if rng.rand() < 0.5 else 0
            img = img[:, ::-1] if hflip else img
            img = np.rot90(img[::-1] if vflip else img, k)
        img = np.ascontiguousarray(img.transpose(2, 0, 1))
        if self.stretch:
            img = (img - img.min()) / (img.max() - img.min() + 1e-8)
        return img


@pytest.mark.parametrize('space,augment,stretch,bgr_to_rgb', [
    ('inputs', True, True, False),
    ('rgb01', True, False, False),
    ('inputs', False, False, True),
])
def test_bank_both_ways_on_demo_data(demo_root, space, augment, stretch,
                                     bgr_to_rgb):
    """The bank through the training pipeline's loader and the model's data
    preprocessor equals, bit for bit, the bank of the released reading
    (``ReleasedReader``) on the demo data: the released settings, the
    foundation models' RGB [0, 1] and an RGB-converting preprocessor."""
    from mmengine.config import Config
    from mmseg.registry import DATASETS, HOOKS, MODELS
    from utils import PBIP_DEMO

    from mmseg_pbip.engine.hooks import bank_from_config
    cfg = Config.fromfile(PBIP_DEMO)
    cfg.train_dataloader.dataset.data_root = demo_root
    cfg.model.data_preprocessor.bgr_to_rgb = bgr_to_rgb
    hook = next(h for h in cfg.custom_hooks if h.type == 'ImageBankHook')
    hook = HOOKS.build(
        dict(hook, input_space=space, augment=augment, stretch=stretch))
    encoder = MODELS.build(cfg.model.image_encoder).eval()
    new = bank_from_config(cfg, encoder, **hook.settings)
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, pipeline=[]))
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    kmeans = {
        k: v
        for k, v in hook.settings.items()
        if k not in ('input_space', 'augment', 'stretch')
    }
    reader = ReleasedReader(space, cfg.model.data_preprocessor, augment,
                            stretch)
    old = build_image_bank(
        paths,
        dataset.get_cls_labels(),
        dataset.tissue_classes,
        encoder,
        reader=reader,
        **kmeans)
    assert torch.equal(new['prototypes'], old['prototypes'])
    assert new['cluster_members'] == old['cluster_members']
    assert new['settings']['reader']['input_space'] == space
