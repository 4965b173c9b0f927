"""Demo data -> stage one -> pseudo labels -> stage two -> test metrics."""
import glob
import math
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.runner import CheckpointLoader, Runner, load_checkpoint
from mmseg.registry import DATASETS, MODELS
from PIL import Image
from utils import (PBIP_DEMO, REPO, STAGE2_DEMO, cfg_options, run,
                   tiny_pbip_options, tiny_stage2_options)

from mmseg_pbip.apis import generate_pseudo_labels
from mmseg_pbip.evaluation import PseudoLabelWriter
from mmseg_pbip.image_bank import load_image_bank
from mmseg_pbip.models.segmentors import without_test_views


def stage_one(demo_root, tmp_path):
    work = str(tmp_path / 'stage1')
    cfg = Config.fromfile(PBIP_DEMO)
    cfg.merge_from_dict(tiny_pbip_options(demo_root, work))
    Runner.from_cfg(cfg).train()
    return cfg, osp.join(work, 'iter_2.pth')


def png_bytes(folder):
    out = {}
    for path in sorted(glob.glob(osp.join(folder, '*.png'))):
        with open(path, 'rb') as f:
            out[osp.basename(path)] = f.read()
    return out


def test_interrupted_pseudo_labels_resume(demo_root, tmp_path, monkeypatch):
    cfg, ckpt = stage_one(demo_root, tmp_path)
    cfg.work_dir = str(tmp_path / 'pseudo_run')
    total = len(os.listdir(osp.join(demo_root, 'training')))
    full = str(tmp_path / 'full')
    stats = generate_pseudo_labels(cfg, ckpt, full, batch_size=4)
    assert stats == dict(total=total, written=total, skipped=0)
    assert sorted(png_bytes(full)) == sorted(
        osp.splitext(n)[0] + '.png'
        for n in os.listdir(osp.join(demo_root, 'training')))

    # killed after two batches: two batches of PNGs, all complete
    part = str(tmp_path / 'part')
    process = PseudoLabelWriter.process

    def killed(self, data_batch, data_samples):
        if self.written >= 8:
            raise KeyboardInterrupt
        process(self, data_batch, data_samples)

    monkeypatch.setattr(PseudoLabelWriter, 'process', killed)
    with pytest.raises(KeyboardInterrupt):
        generate_pseudo_labels(cfg, ckpt, part, batch_size=4)
    monkeypatch.undo()
    # the interrupted run gave MMEngine its own checkpoint loader back
    assert CheckpointLoader._schemes[''].__module__.startswith('mmengine')
    assert len(os.listdir(part)) == 8
    # a half-written temporary file of a killed run is cleaned up
    with open(osp.join(part, '.tmp-half.png'), 'wb') as f:
        f.write(b'\x89PNG')
    stats = generate_pseudo_labels(cfg, ckpt, part, batch_size=4)
    assert stats == dict(total=total, written=total - 8, skipped=8)
    assert png_bytes(part) == png_bytes(full)
    assert not glob.glob(osp.join(part, '.tmp-*'))
    # nothing left to do: no model is run
    assert generate_pseudo_labels(
        cfg, ckpt, part, batch_size=4) == dict(
            total=total, written=0, skipped=total)


def test_pseudo_labels_without_tta_and_strict_checkpoint(
        demo_root, tmp_path, monkeypatch):
    """One view per batch unless the test-time views are asked for; a
    checkpoint that does not match the model is refused, naming it."""
    from mmseg_pbip.models.segmentors import PBIPSegmentor
    cfg, ckpt = stage_one(demo_root, tmp_path)
    cfg.work_dir = str(tmp_path / 'pseudo_run')
    total = len(os.listdir(osp.join(demo_root, 'training')))
    views = []
    once = PBIPSegmentor._fused_cams_once

    def counting(self, inputs, labels):
        views.append(inputs.shape[0])
        return once(self, inputs, labels)

    monkeypatch.setattr(PBIPSegmentor, '_fused_cams_once', counting)
    generate_pseudo_labels(cfg, ckpt, str(tmp_path / 'a'), batch_size=8)
    assert views == [8] * math.ceil(total / 8)
    views.clear()
    generate_pseudo_labels(
        cfg, ckpt, str(tmp_path / 'b'), batch_size=8, tta=True)
    per_batch = len(cfg.model.tta_flips) * len(cfg.model.tta_intensities)
    assert per_batch > 1
    assert len(views) == per_batch * math.ceil(total / 8)

    state = torch.load(ckpt, weights_only=True)
    state['state_dict'].pop(sorted(state['state_dict'])[0])
    bad = str(tmp_path / 'bad.pth')
    torch.save(state, bad)
    with pytest.raises(RuntimeError, match=f'{bad}: does not match'):
        generate_pseudo_labels(cfg, bad, str(tmp_path / 'c'), batch_size=8)
    assert not os.listdir(str(tmp_path / 'c'))


@pytest.mark.slow
def test_demo_pipeline_end_to_end(demo_root, tmp_path):
    # stage one (bank + training) through the Runner
    cfg, ckpt = stage_one(demo_root, tmp_path)
    bank = load_image_bank(cfg.custom_hooks[1].bank_file)
    assert bank['prototypes'].shape[1] == 512
    # pseudo labels through the tool
    pseudo = str(tmp_path / 'pseudo')
    opts = tiny_pbip_options(demo_root, str(tmp_path / 'stage1'))
    # labels only among the image's classes: after two iterations the CAMs
    # are often all zero, and the released argmax would give class 0 to all
    opts['model.argmax_present_only'] = True
    # default checkpoint: the run's best validation (stage one validated at
    # its last iteration)
    _, log = run([
        'tools/generate_pseudo_labels.py', PBIP_DEMO, '--out-dir', pseudo,
        '--overlay-dir',
        str(tmp_path / 'overlays'), '--num-overlays', '2'
    ] + cfg_options(opts))
    best = osp.join(str(tmp_path / 'stage1'), 'best_mIoU_iter_2.pth')
    assert osp.isfile(best) and f'{best} -> {pseudo}' in log
    names = sorted(os.listdir(osp.join(demo_root, 'training')))
    written = sorted(os.listdir(pseudo))
    assert written == names  # one per training image, same name
    mask = Image.open(osp.join(pseudo, written[0]))
    assert mask.mode == 'P' and mask.size == (64, 64)
    assert mask.getpalette()[9:15] == [153, 0, 255, 255, 255, 255]
    # each PNG is the stage-one model's own prediction without test-time
    # views, computed here by calling the model on the same batches of 8
    cfg.model.argmax_present_only = True
    model = MODELS.build(without_test_views(cfg.model)).eval()
    load_checkpoint(model, best, map_location='cpu', strict=True)
    ds_cfg = cfg.train_dataloader.dataset.copy()
    ds_cfg.update(data_root=demo_root, pipeline=cfg.pseudo_label_pipeline)
    dataset = DATASETS.build(ds_cfg)
    contents = set()
    for start in range(0, len(dataset), 8):
        batch = pseudo_collate(
            [dataset[i] for i in range(start, min(start + 8, len(dataset)))])
        with torch.no_grad():
            for sample in model.predict(**model.data_preprocessor(batch)):
                stem = osp.splitext(osp.basename(sample.img_path))[0]
                png = np.asarray(Image.open(osp.join(pseudo, stem + '.png')))
                assert np.array_equal(png, sample.pred_sem_seg.data[0].numpy())
                label = sample.gt_cls_label.numpy()
                assert set(np.unique(png).tolist()) <= set(
                    np.flatnonzero(label).tolist())
                contents.add(png.tobytes())
    assert len(contents) > 1  # the names could not be swapped unseen
    assert len(os.listdir(str(tmp_path / 'overlays'))) == 2
    # stage two trains on them and is tested on the real masks
    work2 = str(tmp_path / 'stage2')
    opts2 = tiny_stage2_options(demo_root, work2, pseudo)
    run(['tools/train.py', STAGE2_DEMO] + cfg_options(opts2))
    ckpt2 = osp.join(work2, 'iter_2.pth')
    assert osp.isfile(ckpt2)
    _, log = run([
        'tools/test.py', STAGE2_DEMO, ckpt2, '--work-dir',
        osp.join(work2, 'test')
    ] + cfg_options(opts2))
    # --tta on stage two: MMSeg's SegTTAModel path, with the config's own
    # histology preprocessor (not the ImageNet one of MMSeg's base)
    _, log_tta = run([
        'tools/test.py', STAGE2_DEMO, ckpt2, '--tta', '--work-dir',
        str(tmp_path / 'stage2_tta')
    ] + cfg_options(opts2))
    plain = float(re.search(r'mIoU: (\d+\.\d+)', log).group(1))
    tta = float(re.search(r'mIoU: (\d+\.\d+)', log_tta).group(1))
    assert abs(plain - tta) < 10, (plain, tta)
    _, report = run([
        'tools/analysis_tools/multi_seed_report.py', 'collect', work2,
        '--names', 'stage two', '--out',
        str(tmp_path / 'summary.json')
    ])
    assert '| stage two | 1 |' in report
    assert '± n/a' in report and '± 0.00' not in report  # one seed
    for key in ('mIoU', 'FwIoU', 'bIoU', 'Dice'):
        assert f'{key} (%)' in report
    assert osp.isfile(str(tmp_path / 'summary.md'))
    assert torch.load(ckpt2, weights_only=True)['meta']['iter'] == 2


def test_overlay_panels(tmp_path):
    from mmseg_pbip.visualization import save_overlay
    img = str(tmp_path / 'a.png')
    Image.fromarray(np.full((8, 6, 3), 100, np.uint8)).save(img)
    mask = np.zeros((8, 6), np.int64)
    mask[:, 3:] = 4
    cams = np.zeros((4, 8, 6), np.float32)
    cams[0, :, :3] = 1.
    palette = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [153, 0, 255],
               [255, 255, 255]]
    save_overlay(str(tmp_path / 'o'), img, mask, palette, cams)
    out = np.asarray(Image.open(str(tmp_path / 'o' / 'a_overlay.png')))
    assert out.shape == (8, 18, 3)
    assert (out[0, 0] == 100).all()  # the image itself
    assert tuple(out[0, 6]) == (177, 177, 50)  # hot: towards yellow
    assert tuple(out[0, 9]) == (100, 100, 100)  # no activation
    assert tuple(out[0, 12]) == (177, 50, 50)  # TUM red blended
    assert tuple(out[0, 17]) == (177, 177, 177)  # background white blended
    # with the class names: a legend under the panels, of the mask's labels
    names = ['TUM', 'STR', 'LYM', 'NEC', 'BACK']
    wide = np.full((40, 120, 3), 100, np.uint8)
    Image.fromarray(wide).save(img)
    mask = np.zeros((40, 120), np.int64)
    mask[:, 60:] = 4
    save_overlay(str(tmp_path / 'o'), img, mask, palette, None, classes=names)
    out = np.asarray(Image.open(str(tmp_path / 'o' / 'a_overlay.png')))
    assert out.shape[0] > 40 and out.shape[1] == 240
    assert (out[:40, :120] == 100).all()  # the panels are unchanged
    legend = out[40:].reshape(-1, 3)
    colours = {tuple(c) for c in legend.tolist()}
    assert (255, 0, 0) in colours  # TUM's box
    assert (0, 255, 0) not in colours and (153, 0, 255) not in colours


@pytest.mark.slow
def test_pscl_pipeline_with_the_same_tools(demo_root, tmp_path):
    """PSCL stage one -> pseudo labels -> Mask2Former on its Swin -> test,
    through the same tools as PBIP."""
    from utils import REPO, tiny_segformer_options
    pscl = osp.join(REPO, 'configs', 'pscl', 'pscl_swin-mini_1xb8-150'
                    'iters_demo-224x224.py')
    m2f = osp.join(
        REPO, 'configs', 'pscl', 'mask2former_swin-mini_1xb8-300'
        'iters_demo-pseudo-224x224.py')
    work1, work2 = str(tmp_path / 's1'), str(tmp_path / 's2')
    base = {
        k: v
        for k, v in tiny_segformer_options(demo_root, work1).items()
        if not k.startswith('model.')
    }
    opts1 = dict(
        base, **{
            'model.data_preprocessor.size': (64, 64),
            'model.tta_flips': [False]
        })
    run(['tools/train.py', pscl] + cfg_options(opts1))
    ckpt = osp.join(work1, 'iter_2.pth')
    # --tta on a PSCL (CAM) model: one pipeline view, the model's own views
    _, log = run([
        'tools/test.py', pscl, ckpt, '--tta', '--work-dir',
        str(tmp_path / 's1_tta')
    ] + cfg_options(opts1))
    assert re.search(r'mIoU: \d+\.\d+', log)
    pseudo = str(tmp_path / 'pseudo')
    run(['tools/generate_pseudo_labels.py', pscl, ckpt, '--out-dir', pseudo] +
        cfg_options(opts1))
    assert len(os.listdir(pseudo)) == len(
        os.listdir(osp.join(demo_root, 'training')))
    opts2 = dict(
        base, **{
            'work_dir': work2,
            'model.data_preprocessor.size': (64, 64),
            'model.backbone.init_cfg.checkpoint': ckpt,
            'train_dataloader.dataset.data_prefix.seg_map_path': pseudo,
        })
    _, log = run(['tools/train.py', m2f] + cfg_options(opts2))
    assert 'pretrained weights from: model.backbone.init_cfg' in log
    _, log = run([
        'tools/test.py', m2f,
        osp.join(work2, 'iter_2.pth'), '--work-dir',
        osp.join(work2, 'test')
    ] + cfg_options(opts2))
    for key in ('mIoU', 'FwIoU', 'bIoU', 'Dice'):
        assert f'{key}: ' in log
    # --tta on Mask2Former: MMSeg's SegTTAModel
    _, log = run([
        'tools/test.py', m2f,
        osp.join(work2, 'iter_2.pth'), '--tta', '--work-dir',
        osp.join(work2, 'test_tta')
    ] + cfg_options(opts2))
    assert re.search(r'mIoU: \d+\.\d+', log)


def test_released_config_trains_whole_epochs(demo_root, tmp_path):
    """The released config counts epochs as the released loop does (its
    DataLoader restarted every epoch): each epoch a new permutation of the
    training split with a short last batch, then validation and a
    checkpoint."""
    from mmengine.hooks import Hook
    released = osp.join(REPO, 'configs', 'pbip',
                        'pbip_mit-b1_1xb10-8e_bcss-wsss-224x224.py')
    work = str(tmp_path / 'released')
    opts = tiny_pbip_options(demo_root, work)
    for key in ('train_cfg.max_iters', 'train_cfg.val_interval',
                'default_hooks.checkpoint.interval'):
        opts.pop(key)
    opts.update({
        'train_cfg.max_epochs': 2,
        'train_dataloader.batch_size': 10,
        'allow_random_init': True,
        'model.backbone.init_cfg': None,
        'model.image_encoder.swin_pretrained': None,
        'model.image_encoder.allow_random_init': True,
    })
    cfg = Config.fromfile(released)
    cfg.merge_from_dict(opts)
    runner = Runner.from_cfg(cfg)

    class Batches(Hook):

        def __init__(self):
            self.seen = []

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            self.seen.append((runner.epoch, [
                osp.basename(s.img_path) for s in data_batch['data_samples']
            ]))

    batches = Batches()
    runner.register_hook(batches)
    runner.train()
    names = sorted(os.listdir(osp.join(demo_root, 'training')))
    expected_sizes = []
    for epoch in range(2):
        left = len(names)
        while left > 0:
            expected_sizes.append((epoch, min(10, left)))
            left -= 10
    assert [(e, len(b)) for e, b in batches.seen] == expected_sizes
    orders = [[n for e, b in batches.seen if e == epoch for n in b]
              for epoch in range(2)]
    assert sorted(orders[0]) == sorted(orders[1]) == names
    assert orders[0] != orders[1]  # reshuffled
    for epoch in (1, 2):
        ckpt = torch.load(
            osp.join(work, f'epoch_{epoch}.pth'), weights_only=True)
        assert ckpt['meta']['epoch'] == epoch
        assert ckpt['meta']['iter'] == epoch * len(expected_sizes) // 2
    assert glob.glob(osp.join(work, 'best_mIoU_epoch_*.pth'))
