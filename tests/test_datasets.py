"""Dataset classes on tiny fixtures in each dataset's real format."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from utils import quadrant_mask, write_mask, write_rgb

import mmseg_pbip  # noqa: F401
from mmseg_pbip.datasets import (BCSSDataset, BCSSWSSSDataset, GCSSDataset,
                                 LUADHistoSegDataset, parse_cls_label)

TRAIN_PIPELINE = [
    dict(type='LoadHistoImageFromFile'),
    dict(type='PackHistoSegInputs'),
]
EVAL_PIPELINE = [
    dict(type='LoadHistoImageFromFile'),
    dict(type='LoadHistoAnnotations'),
    dict(type='PackHistoSegInputs'),
]


def train_set(cls, root, **kwargs):
    return cls(
        data_root=root,
        data_prefix=dict(img_path='training'),
        cls_label_from='filename',
        pipeline=TRAIN_PIPELINE,
        **kwargs)


def eval_set(cls, root, split='val'):
    return cls(
        data_root=root,
        data_prefix=dict(
            img_path=f'{split}/img', seg_map_path=f'{split}/mask'),
        cls_label_from='mask',
        pipeline=EVAL_PIPELINE)


def test_bcss_wsss_training_labels_from_names(bcss_wsss_root):
    ds = train_set(BCSSWSSSDataset, bcss_wsss_root)
    assert len(ds) == 3
    assert ds.metainfo['classes'] == ('TUM', 'STR', 'LYM', 'NEC', 'BACK')
    assert ds.tissue_classes == ('TUM', 'STR', 'LYM', 'NEC')
    # sorted by path: A0SK [1101], A0CM [0100]... order follows names
    by_name = {
        osp.basename(ds.get_data_info(i)['img_path']): ds.get_cls_labels()[i]
        for i in range(len(ds))
    }
    assert by_name['TCGA-A1-A0SK-DX1_xmin45749_ymin25055_MPP-0.2500+0[1101]'
                   '.png'].tolist() == [1, 1, 0, 1]
    assert by_name[
        'TCGA-AR-A1AQ-DX1_xmin7_ymin9_MPP-0.2500+1[0011].png'].tolist() == [
            0, 0, 1, 1
        ]
    sample = ds[0]
    assert sample['inputs'].shape == (3, 64, 64)
    label = sample['data_samples'].gt_cls_label
    assert label.dtype == torch.float32 and label.shape == (4, )
    assert 'gt_sem_seg' not in sample['data_samples']


def test_bcss_wsss_eval_labels_from_masks(bcss_wsss_root):
    ds = eval_set(BCSSWSSSDataset, bcss_wsss_root)
    assert len(ds) == 2
    s0, s1 = ds[0], ds[1]
    # case0: TUM, STR and background; case1: LYM, NEC, TUM
    assert s0['data_samples'].gt_cls_label.tolist() == [1, 1, 0, 0]
    assert s1['data_samples'].gt_cls_label.tolist() == [1, 0, 1, 1]
    gt = s0['data_samples'].gt_sem_seg.data
    assert gt.shape == (1, 64, 64) and int(gt.max()) == 4


def test_luad_histoseg(luad_root):
    ds = train_set(LUADHistoSegDataset, luad_root)
    labels = {
        osp.basename(ds.get_data_info(i)['img_path']): ds.get_cls_labels()[i]
        for i in range(len(ds))
    }
    assert labels['1031280-2300-27920-[1 0 0 1].png'].tolist() == [1, 0, 0, 1]
    assert labels['22-1-2-[0 1 1 0].png'].tolist() == [0, 1, 1, 0]
    assert ds.metainfo['classes'][:4] == ('TE', 'NEC', 'LYM', 'TAS')
    assert ds.metainfo['palette'][0] == [205, 51, 51]
    val = eval_set(LUADHistoSegDataset, luad_root)
    assert val[0]['data_samples'].gt_cls_label.tolist() == [1, 0, 0, 1]


@pytest.mark.parametrize('cls', [BCSSDataset, GCSSDataset])
def test_masked_datasets(cls, masked_root):
    pipeline = [
        dict(type='LoadHistoImageFromFile'),
        dict(type='LoadHistoAnnotations'),
        dict(type='PackHistoSegInputs', with_seg=False),
    ]
    ds = cls(
        data_root=masked_root,
        data_prefix=dict(img_path='train/img', seg_map_path='train/mask'),
        cls_label_from='mask',
        pipeline=pipeline)
    s = ds[0]
    assert s['data_samples'].gt_cls_label.tolist() == [1, 1, 0, 0]
    assert 'gt_sem_seg' not in s['data_samples']
    assert ds[1]['data_samples'].gt_cls_label.tolist() == [0, 0, 0, 1]
    test = eval_set(cls, masked_root, 'test')
    assert test[0]['data_samples'].gt_cls_label.tolist() == [1, 1, 1, 1]


def test_training_split_with_pseudo_label_folder(bcss_wsss_root):
    """Stage two: labels from names, masks from a pseudo-label folder."""
    ds = train_set(BCSSWSSSDataset, bcss_wsss_root)
    for i in range(len(ds)):
        name = osp.basename(ds.get_data_info(i)['img_path'])
        write_mask(
            osp.join(bcss_wsss_root, 'pseudo', name),
            quadrant_mask((0, 1, 3, 4)))
    ds2 = BCSSWSSSDataset(
        data_root=bcss_wsss_root,
        data_prefix=dict(img_path='training', seg_map_path='pseudo'),
        cls_label_from='filename',
        pipeline=EVAL_PIPELINE)
    s = ds2[0]
    assert s['data_samples'].gt_sem_seg.data.shape == (1, 64, 64)
    # the name's label wins over the mask's content
    assert s['data_samples'].gt_cls_label.tolist() == \
        ds.get_cls_labels()[0].tolist()


@pytest.mark.parametrize('name, message', [
    ('TCGA-xx_xmin1_ymin2_MPP-0.2500.png', 'no image-level label'),
    ('TCGA-xx_xmin1_ymin2_MPP-0.2500+0[110].png', 'has 3 entries'),
    ('TCGA-xx_xmin1_ymin2_MPP-0.2500+0[11011].png', 'has 5 entries'),
    ('TCGA-xx_xmin1_ymin2_MPP-0.2500+0[0000].png', 'names no tissue'),
    ('1031280-2300-27920-[1 0 0 1].png', 'no image-level label'),
])
def test_bad_training_names(bcss_wsss_root, name, message):
    write_rgb(osp.join(bcss_wsss_root, 'training', name))
    with pytest.raises(ValueError, match=message) as e:
        train_set(BCSSWSSSDataset, bcss_wsss_root)
    assert name in str(e.value)


def test_luad_rejects_bcss_style_name(luad_root):
    name = 'abc-[1001].png'
    write_rgb(osp.join(luad_root, 'training', name))
    with pytest.raises(ValueError, match=r'abc-\[1001\]\.png'):
        train_set(LUADHistoSegDataset, luad_root)


def test_parse_cls_label_formats():
    assert parse_cls_label('a+0[1101].png', 'bcss-wsss', 4) == [1, 1, 0, 1]
    assert parse_cls_label('/x/1-2-[0 0 1 0].png', 'luad-histoseg',
                           4) == [0, 0, 1, 0]
    with pytest.raises(ValueError, match='Unknown label_format'):
        parse_cls_label('a[1].png', 'nope', 1)


def test_unreadable_image_names_file(bcss_wsss_root):
    ds = eval_set(BCSSWSSSDataset, bcss_wsss_root)
    path = ds.get_data_info(0)['img_path']
    with open(path, 'rb') as f:
        head = f.read(60)
    with open(path, 'wb') as f:  # truncated PNG
        f.write(head)
    with pytest.raises(ValueError, match='cannot be read as an image') as e:
        ds[0]
    assert path in str(e.value)


def test_empty_image_file_names_file(bcss_wsss_root):
    ds = train_set(BCSSWSSSDataset, bcss_wsss_root)
    path = ds.get_data_info(1)['img_path']
    open(path, 'wb').close()
    with pytest.raises(ValueError, match='cannot be read') as e:
        ds[1]
    assert path in str(e.value)


def test_grey_image_is_refused(bcss_wsss_root):
    ds = eval_set(BCSSWSSSDataset, bcss_wsss_root)
    path = ds.get_data_info(0)['img_path']
    from PIL import Image
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(path)
    # mmcv decodes as colour by default; ask for unchanged to see 1 channel
    ds.pipeline.transforms[0].color_type = 'unchanged'
    with pytest.raises(ValueError, match='1 channel') as e:
        ds[0]
    assert path in str(e.value)


def test_mask_size_mismatch_names_file(bcss_wsss_root):
    ds = eval_set(BCSSWSSSDataset, bcss_wsss_root)
    mask_path = ds.get_data_info(1)['seg_map_path']
    write_mask(mask_path, np.zeros((32, 64), np.uint8))
    with pytest.raises(ValueError, match='differs from image') as e:
        ds[1]
    assert mask_path in str(e.value) and '64x32' in str(e.value)


def test_mask_values_out_of_range_names_file(bcss_wsss_root):
    ds = eval_set(BCSSWSSSDataset, bcss_wsss_root)
    mask_path = ds.get_data_info(0)['seg_map_path']
    write_mask(mask_path, quadrant_mask((0, 1, 7, 4)))
    with pytest.raises(ValueError, match=r'values \[7\]') as e:
        ds[0]
    assert mask_path in str(e.value)


def test_missing_mask_names_image(bcss_wsss_root):
    os.remove(osp.join(bcss_wsss_root, 'val', 'mask', 'case1.png'))
    with pytest.raises(FileNotFoundError, match='no mask') as e:
        eval_set(BCSSWSSSDataset, bcss_wsss_root)
    assert 'case1.png' in str(e.value)


def test_empty_and_missing_folders(bcss_wsss_root, tmp_path):
    empty = tmp_path / 'empty'
    (empty / 'training').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match='holds no') as e:
        train_set(BCSSWSSSDataset, str(empty))
    assert str(empty / 'training') in str(e.value)
    with pytest.raises(FileNotFoundError, match='does not exist') as e:
        train_set(BCSSWSSSDataset, str(tmp_path / 'nowhere'))
    assert str(tmp_path / 'nowhere' / 'training') in str(e.value)
    with pytest.raises(FileNotFoundError, match='mask folder'):
        BCSSWSSSDataset(
            data_root=bcss_wsss_root,
            data_prefix=dict(img_path='val/img', seg_map_path='val/nomask'),
            cls_label_from='mask')
    with pytest.raises(ValueError, match='needs data_prefix.seg_map_path'):
        BCSSWSSSDataset(
            data_root=bcss_wsss_root,
            data_prefix=dict(img_path='val/img'),
            cls_label_from='mask')


def test_cls_labels_need_filename_mode(bcss_wsss_root):
    ds = eval_set(BCSSWSSSDataset, bcss_wsss_root)
    with pytest.raises(ValueError, match='get_cls_labels'):
        ds.get_cls_labels()


def test_cls_label_from_mask():
    from mmseg_pbip.datasets import cls_label_from_mask
    mask = quadrant_mask((3, 4, 255, 1))
    assert cls_label_from_mask(mask, 4).tolist() == [0, 1, 0, 1]


@pytest.mark.parametrize('size,batch,world', [(10, 3, 3), (7, 4, 2), (5, 8, 3),
                                              (0, 2, 2)])
def test_batch_round_robin_sampler_deals_whole_batches(monkeypatch, size,
                                                       batch, world):
    """Every rank runs whole batches of the one-process order, each once."""
    from torch.utils.data import DataLoader

    from mmseg_pbip.datasets.samplers import batch_round_robin_sampler as mod
    one_process = []
    for start in range(0, size, batch):
        one_process.append(list(range(start, min(start + batch, size))))
    dealt = []
    for rank in range(world):
        monkeypatch.setattr(mod, 'get_dist_info', lambda r=rank: (r, world))
        sampler = mod.BatchRoundRobinSampler(list(range(size)), batch)
        loader = DataLoader(
            list(range(size)), batch_size=batch, sampler=sampler)
        got = [b.tolist() for b in loader]
        assert got == [
            one_process[k] for k in range(len(one_process))
            if k % world == rank
        ]
        dealt += got
    assert sorted(dealt) == one_process
    with pytest.raises(ValueError, match='batch_size'):
        mod.BatchRoundRobinSampler([1], 0)


@pytest.mark.parametrize('turns, expected', [
    ((0, 1, 2, 3), [1 - 0.5 + 0.5 / 4] + [0.5 / 4] * 3),
    ((1, 2, 3), [0.5] + [0.5 / 3] * 3),
])
def test_random_rotate90_draws(turns, expected):
    """The dataset bases draw as albumentations' RandomRotate90(p=0.5) of the
    released code (k uniform in 0-3 when applied: 37.5 % rotated); the
    transform's default always rotates when it applies (50 %)."""
    from mmengine.config import Config
    from mmseg.registry import TRANSFORMS
    from utils import REPO
    if turns == (0, 1, 2, 3):
        cfg = Config.fromfile(
            osp.join(REPO, 'configs', '_base_', 'datasets', 'bcss-wsss.py'))
        step = [
            t for t in cfg.train_pipeline if t['type'] == 'RandomRotate90'
        ][0]
        transform = TRANSFORMS.build(step)
    else:
        transform = TRANSFORMS.build(dict(type='RandomRotate90'))
    img = np.arange(6, dtype=np.uint8).reshape(2, 3, 1).repeat(3, axis=2)
    mask = img[..., 0].copy()
    np.random.seed(0)
    n = 20000
    counts = np.zeros(4)
    for _ in range(n):
        out = transform(
            dict(img=img, gt_seg_map=mask, seg_fields=['gt_seg_map']))
        k = [
            j for j in range(4) if out['img'].shape == np.rot90(img, j).shape
            and np.array_equal(out['img'], np.rot90(img, j))
        ]
        assert len(k) == 1
        assert np.array_equal(out['gt_seg_map'], np.rot90(mask, k[0]))
        counts[k[0]] += 1
    # five binomial standard deviations
    tol = 5 * np.sqrt(np.asarray(expected) * (1 - np.asarray(expected)) / n)
    assert np.all(np.abs(counts / n - expected) < tol), (counts / n, expected)


def test_random_rotate90_refuses_bad_turns():
    from mmseg_pbip.datasets.transforms import RandomRotate90
    for bad in ((), (1, 1), (4, ), (-1, 0)):
        with pytest.raises(ValueError, match='quarter_turns'):
            RandomRotate90(quarter_turns=bad)
