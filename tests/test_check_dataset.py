"""tools/check_dataset.py on a BCSS-WSSS fixture seeded with each fault."""
import json
import os
import os.path as osp
import shutil
import sys

import numpy as np
import pytest
from dataset_checks import check_config_datasets
from mmengine.config import Config
from PIL import Image
from utils import REPO, write_mask, write_rgb

sys.path.insert(0, osp.join(REPO, 'tools'))
import check_dataset  # noqa: E402

TRAIN = 'TCGA-A2-A0CM-DX1_xmin100_ymin200_MPP-0.2500+0[0100].png'


def bcss_cfg(root, bank=False):
    """A config with the three BCSS-WSSS splits under ``root``."""

    def loader(prefix, cls_from):
        return dict(
            dataset=dict(
                type='BCSSWSSSDataset',
                data_root=root,
                data_prefix=prefix,
                cls_label_from=cls_from))

    cfg = dict(
        train_dataloader=loader(dict(img_path='training'), 'filename'),
        val_dataloader=loader(
            dict(img_path='val/img', seg_map_path='val/mask'), 'mask'),
        test_dataloader=loader(
            dict(img_path='test/img', seg_map_path='test/mask'), 'mask'))
    if bank:
        cfg['custom_hooks'] = [
            dict(
                type='ImageBankHook',
                bank_file='x.pth',
                k_per_class=2,
                max_white_fraction=0.5)
        ]
    return Config(cfg)


def seed_faults(root):
    """Write one file per fault; returns {path: expected message part}."""
    tr = osp.join(root, 'training')
    faults = {}

    def train(name, msg, **kw):
        path = osp.join(tr, name)
        write_rgb(path, **kw)
        faults[path] = msg
        return path

    path = train('trunc+0[1000].png', 'truncated')
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])
    open(train('empty+0[0100].png', 'empty file'), 'wb').close()
    open(train('text+0[0010].png', 'not a decodable image'), 'w').write('hi')
    rgba = train('rgba+0[1000].png', '4 channel(s) (RGBA)')
    Image.open(rgba).convert('RGBA').save(rgba)
    train('big+0[0100].png', '80x80 pixels', size=(80, 80))
    train('nolabel.png', 'no image-level label')
    train('short+0[110].png', 'has 3 entries, expected 4')
    train('zero+0[0000].png', 'names no tissue class')
    dup = train('sub/' + TRAIN.replace('[0100]', '[1100]'),
                'duplicate patch name with a different label')
    faults[osp.join(tr, TRAIN)] = 'duplicate patch name with a different'
    shutil.copy(
        osp.join(tr, TRAIN.replace('[0100]', '[0100]')),
        osp.join(tr, 'copy+0[0100].png'))
    faults[osp.join(tr, 'copy+0[0100].png')] = 'same pixels as'
    open(osp.join(tr, 'notes.txt'), 'w').write('x')
    faults[osp.join(tr, 'notes.txt')] = "not a '.png' file"
    # val: image without mask, orphan mask, bad values, wrong size
    write_rgb(osp.join(root, 'val/img/case9.png'), seed=9)
    faults[osp.join(root, 'val/img/case9.png')] = 'no mask'
    write_mask(osp.join(root, 'val/mask/orphan.png'), np.zeros((64, 64)))
    faults[osp.join(root, 'val/mask/orphan.png')] = 'mask without an image'
    bad = np.zeros((64, 64), np.uint8)
    bad[0, 0] = 7
    write_mask(osp.join(root, 'val/mask/case0.png'), bad)
    faults[osp.join(root, 'val/mask/case0.png')] = 'mask values [7]'
    write_mask(osp.join(root, 'val/mask/case1.png'), np.zeros((32, 32)))
    faults[osp.join(root, 'val/mask/case1.png')] = \
        'mask is 32x32, its image is 64x64'
    # test: an RGB mask, an image that is also a training patch
    write_rgb(osp.join(root, 'test/mask/case0.png'))
    faults[osp.join(root, 'test/mask/case0.png')] = '3-channel mask'
    shutil.copy(dup, osp.join(root, 'test/img/case1.png'))
    faults[osp.join(root, 'test/img/case1.png')] = 'leakage between splits'
    return faults


def test_clean_dataset_passes_with_counts(bcss_wsss_root):
    report = check_config_datasets(bcss_cfg(bcss_wsss_root), progress=False)
    assert report.findings == []
    assert report.exit_code() == 0
    train, val, test = report.splits
    assert train['patches_per_class'] == [1, 2, 1, 2]  # [1101] [0100] [0011]
    assert train['single_label'] == [0, 1, 0, 0]
    assert train['bank_usable'] == [0, 1, 0, 0]
    assert val['patches_per_class'] == [2, 1, 1, 1]  # (0,1,4,4) (2,2,3,0)
    assert val['images'] == val['masks'] == 2
    assert sum(val['pixel_fraction']) == pytest.approx(6 / 8)


def test_bank_needs_single_label_patches_per_class(bcss_wsss_root):
    report = check_config_datasets(
        bcss_cfg(bcss_wsss_root, bank=True), progress=False)
    msgs = [f.message for f in report.errors]
    assert len(msgs) == 3 and all('image bank cannot be built' in m
                                  for m in msgs)
    assert any(
        f.message.startswith('class STR has 1') for f in report.warnings)


@pytest.mark.parametrize('workers', [1, 2])
def test_every_seeded_fault_is_reported(bcss_wsss_root, workers):
    faults = seed_faults(bcss_wsss_root)
    report = check_config_datasets(
        bcss_cfg(bcss_wsss_root), workers=workers, progress=False)
    for path, expected in faults.items():
        got = [f.message for f in report.findings if f.path == path]
        assert any(expected in m for m in got), (path, expected, got)
    assert report.exit_code() == 1
    warnings_only = {
        'rgba+0[1000].png', 'copy+0[0100].png', 'notes.txt', 'orphan.png',
        'case1.png'
    }
    for f in report.findings:
        if osp.basename(f.path) in warnings_only and f.split != 'val':
            assert f.level == 'warning', f


def test_cli_exit_status_and_json(bcss_wsss_root, tmp_path, capsys):
    cfg_file = str(tmp_path / 'cfg.py')
    bcss_cfg(bcss_wsss_root).dump(cfg_file)
    out = str(tmp_path / 'report.json')
    assert check_dataset.main(
        [cfg_file, '--workers', '1', '--out', out, '--no-progress']) == 0
    seed_faults(bcss_wsss_root)
    assert check_dataset.main(
        [cfg_file, '--workers', '1', '--out', out, '--no-progress']) == 1
    printed = capsys.readouterr().out
    assert 'ERROR   [train]' in printed and 'error(s)' in printed
    report = json.load(open(out))
    assert report['errors'] >= 12
    assert not [f for f in os.listdir(tmp_path) if '.tmp' in f]
    # warnings alone: exit 0, or 1 with --strict
    shutil.rmtree(bcss_wsss_root)
    from utils import quadrant_mask, write_eval_split
    write_rgb(osp.join(bcss_wsss_root, 'training', TRAIN))
    open(osp.join(bcss_wsss_root, 'training', 'x.txt'), 'w').close()
    for split in ('val', 'test'):
        write_eval_split(bcss_wsss_root, split, [quadrant_mask((0, 1, 2, 3))])
    assert check_dataset.main([cfg_file, '--workers', '1',
                               '--no-progress']) == 0
    assert check_dataset.main(
        [cfg_file, '--workers', '1', '--strict', '--no-progress']) == 1
