"""Image bank: selection, white filter, K-means, file round trip."""
import copy
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


@pytest.mark.parametrize('bgr_to_rgb', [False, True])
def test_rgb01_shared_by_bank_and_segmentor(tmp_path, bgr_to_rgb):
    """The bank's RGB [0, 1] (``input_space='rgb01'``) is the image file's RGB
    / 255 exactly, and the segmentors' ``images_01`` (undoing the network's
    preprocessor, either channel order) gives it back."""
    from mmseg.registry import MODELS

    from mmseg_pbip.image_bank import BankImageReader
    from mmseg_pbip.models.utils import inputs_to_rgb01
    rgb = np.random.RandomState(3).randint(0, 256, (5, 7, 3)).astype(np.uint8)
    path = str(tmp_path / 'a.png')
    Image.fromarray(rgb).save(path)
    expected = rgb.astype(np.float32) / np.float32(255)
    reader = BankImageReader('rgb01')
    assert np.array_equal(reader(path), expected.transpose(2, 0, 1))
    assert np.array_equal(reader.rgb01(path), expected)
    pre = MODELS.build(
        dict(
            type='SegDataPreProcessor',
            mean=[170.3, 121.9, 180.1],
            std=[44.3, 57.5, 50.5],
            bgr_to_rgb=bgr_to_rgb))
    bgr = torch.from_numpy(rgb[..., ::-1].transpose(2, 0, 1).copy())
    inputs = pre(dict(inputs=[bgr]), False)['inputs']
    np.testing.assert_allclose(
        inputs_to_rgb01(inputs, pre)[0].numpy(),
        expected.transpose(2, 0, 1),
        atol=1e-6)


def test_bank_needs_the_training_image_loader(patches):
    """The bank reads patches with the training pipeline's loader; a training
    pipeline without one is refused, naming what is missing."""
    from mmengine.config import ConfigDict

    from mmseg_pbip.engine.hooks import bank_from_config
    cfg = ConfigDict(
        train_dataloader=dict(
            dataset=dict(
                type='BCSSWSSSDataset',
                data_root='unused',
                pipeline=[dict(type='PackHistoSegInputs')])))
    with pytest.raises(ValueError, match="training pipeline's image loader"):
        bank_from_config(cfg, MeanColourEncoder())


def test_bank_file_of_the_earlier_reader_loads(patches, tmp_path):
    """Files built before the pipeline path (reader settings ``mean``, ``std``,
    ``to_rgb``, ``augment``, ``seed``) hold the same prototypes and load as
    they did."""
    paths, labels = patches
    bank = build_image_bank(paths, labels, 'ABC', MeanColourEncoder(), 2, 3)
    bank['settings']['reader'] = dict(
        input_space='rgb01',
        mean=None,
        std=None,
        to_rgb=False,
        augment=False,
        stretch=False,
        seed=42)
    path = str(tmp_path / 'old.pth')
    save_image_bank(path, bank)
    loaded = load_image_bank(path, list('ABC'), feature_dim=6)
    assert torch.equal(loaded['prototypes'], bank['prototypes'])
    assert loaded['settings']['reader']['to_rgb'] is False


def test_seeded_flip_rotate90_moves_masks_with_the_image():
    """The bank transform gives image and mask the same view, the one its draw
    names, and the same view on every call."""
    from mmseg_pbip.datasets.transforms import SeededFlipRotate90
    flips = SeededFlipRotate90(seed=7)
    path = next(f'/d/p{i}.png' for i in range(100)
                if flips.draw(f'/d/p{i}.png') == (True, True, 1))
    img = np.arange(2 * 3 * 3).reshape(2, 3, 3).astype(np.uint8)
    mask = img[..., 0].copy()
    out = flips(
        dict(
            img=img.copy(),
            gt_seg_map=mask.copy(),
            img_path=path,
            seg_fields=['gt_seg_map']))
    expected = np.rot90(img[::-1, ::-1], 1)  # both flips, a quarter turn
    assert np.array_equal(out['img'], expected)
    assert np.array_equal(out['gt_seg_map'], expected[..., 0])
    assert out['img_shape'] == (3, 2)


def test_bank_of_other_settings_is_refused(demo_root):
    """A bank file built with other input statistics, augmentation or K-means
    than the config's is refused when loaded, naming the setting; the same
    settings pass (a change of the input reaches the bank)."""
    from mmengine.config import Config
    from mmseg.registry import HOOKS, MODELS
    from utils import PBIP_DEMO

    from mmseg_pbip.engine.hooks import bank_from_config
    cfg = Config.fromfile(PBIP_DEMO)
    cfg.train_dataloader.dataset.data_root = demo_root
    hook = HOOKS.build(
        next(h for h in cfg.custom_hooks if h.type == 'ImageBankHook'))
    hook.bank_file = 'bank.pth'
    encoder = MODELS.build(cfg.model.image_encoder).eval()
    bank = bank_from_config(cfg, encoder, **hook.settings)
    hook.check_settings(bank, cfg)  # as built: accepted
    other = copy.deepcopy(cfg)
    other.model.data_preprocessor.mean = [0., 0., 0.]
    with pytest.raises(ValueError, match=r'bank\.pth .*reader: '):
        hook.check_settings(bank, other)
    for key, value in (('augment', False), ('k_per_class', 2)):
        changed = HOOKS.build(
            dict(
                next(h for h in cfg.custom_hooks if h.type == 'ImageBankHook'),
                **{key: value}))
        with pytest.raises(ValueError, match=f'{key}|reader'):
            changed.check_settings(bank, cfg)
    # a bank of the earlier reader format: K-means settings only
    old = dict(bank, settings=dict(bank['settings'], reader=dict(mean=[1.])))
    hook.check_settings(old, other)
