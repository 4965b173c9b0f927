"""Helpers shared by the tests: tiny datasets in the real on-disk formats,
configs shrunk for tests, and running the tools as a user would."""
import os
import os.path as osp
import subprocess
import sys
import zlib

import numpy as np
import torch
from mmengine.config import Config
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from PIL import Image

PALETTE = [255, 0, 0, 0, 255, 0, 0, 0, 255, 153, 0, 255, 255, 255, 255]

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# the tools' shared modules (synthetic_he, dataset_checks); appended, so that
# tools/test.py never shadows anything
if osp.join(REPO, 'tools') not in sys.path:
    sys.path.append(osp.join(REPO, 'tools'))


def write_rgb(path, size=(64, 64), seed=0):
    """Write a random RGB PNG of ``size`` (H, W)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (*size, 3),
                                 dtype=np.uint8)).save(path)


def write_mask(path, mask):
    """Write a P-mode mask with the BCSS-WSSS palette."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    img = Image.fromarray(np.asarray(mask, dtype=np.uint8), mode='P')
    img.putpalette(PALETTE + [0] * (768 - len(PALETTE)))
    img.save(path)


def quadrant_mask(classes, size=64):
    """``[size, size]`` mask with the four quadrants set to ``classes``."""
    mask = np.empty((size, size), np.uint8)
    h = size // 2
    mask[:h, :h], mask[:h, h:], mask[h:, :h], mask[h:, h:] = classes
    return mask


def write_eval_split(root, split, masks, img_dir='img', mask_dir='mask'):
    """Write ``root/split/{img,mask}/case<i>.png`` for each mask (pixels differ
    from every other split's)."""
    for i, mask in enumerate(masks):
        name = f'case{i}.png'
        write_rgb(
            osp.join(root, split, img_dir, name),
            mask.shape,
            seed=zlib.crc32(split.encode()) + i)
        write_mask(osp.join(root, split, mask_dir, name), mask)


def tiny_segformer_options(data_root, work_dir, max_iters=2, interval=2):
    """``--cfg-options`` that shrink the demo SegFormer config for tests."""
    return {
        'work_dir': work_dir,
        'train_dataloader.dataset.data_root': data_root,
        'val_dataloader.dataset.data_root': data_root,
        'test_dataloader.dataset.data_root': data_root,
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False,
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'model.data_preprocessor.size': (64, 64),
        'model.backbone.embed_dims': 8,
        'model.backbone.num_layers': [1, 1, 1, 1],
        'model.decode_head.in_channels': [8, 16, 40, 64],
        'model.decode_head.channels': 16,
        'train_cfg.max_iters': max_iters,
        'train_cfg.val_interval': max_iters,
        'default_hooks.checkpoint.interval': interval,
        'default_hooks.logger.interval': 1,
    }


SEGFORMER_DEMO = osp.join(REPO, 'configs', 'segformer',
                          'segformer_mit-b0_1xb8-200iters_demo-224x224.py')

PBIP_DEMO = osp.join(REPO, 'configs', 'pbip', 'pbip_mit-b1_1xb8-150i'
                     'ters_demo-224x224.py')


def tiny_pbip_options(data_root, work_dir, max_iters=2):
    """``--cfg-options`` that shrink the PBIP demo config for tests."""
    options = tiny_segformer_options(
        data_root, work_dir, max_iters, interval=max_iters)
    for key in ('model.decode_head.in_channels', 'model.decode_head.channels'):
        options.pop(key)
    options.update({
        'model.head.in_channels': [8, 16, 40, 64],
        'model.image_encoder.input_size': 56,
        'model.image_encoder.hf_config.image_size': 56,
        'model.image_encoder.hf_config.embed_dim': 8,
        'model.image_encoder.hf_config.depths': [1, 1],
        'model.image_encoder.hf_config.num_heads': [1, 2],
        'custom_hooks.1.bank_file': osp.join(work_dir, 'bank.pth'),
        'custom_hooks.1.n_per_cluster': 3,
        'custom_hooks.1.k_per_class': 2,
    })
    return options


STAGE2_DEMO = osp.join(
    REPO, 'configs', 'pbip', 'deeplabv3plus_r18-d16_1xb8-150'
    'iters_demo-pseudo-224x224.py')


def tiny_stage2_options(data_root, work_dir, pseudo_dir, max_iters=2):
    """``--cfg-options`` that shrink the stage-two demo config for tests."""
    options = {
        k: v
        for k, v in tiny_segformer_options(
            data_root, work_dir, max_iters, interval=max_iters).items()
        if not k.startswith('model.')
    }
    options.update({
        'model.data_preprocessor.size': (64, 64),
        'train_dataloader.dataset.data_prefix.seg_map_path': pseudo_dir,
        'model.decode_head.channels': 16,
        'model.auxiliary_head.channels': 8,
    })
    return options


def run(args, cwd=REPO, check=True, env=None, interpreter=sys.executable):
    """Run ``python ARGS`` (or ``<interpreter> ARGS``, e.g. ``bash``) as a user
    would; returns (exit code, output)."""
    env = dict(os.environ, PYTHONWARNINGS='ignore', **(env or {}))
    proc = subprocess.run(
        [interpreter] + args, cwd=cwd, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{args} exited {proc.returncode}:\n{out[-4000:]}')
    return proc.returncode, out


def cfg_options(options):
    """``--cfg-options`` arguments for a dict of options."""
    items = []
    for k, v in options.items():
        if isinstance(v, (list, tuple)):
            v = '[' + ','.join(str(x) for x in v) + ']'
            if k.endswith('size'):
                v = '(' + v[1:-1] + ')'
        items.append(f'{k}={v}')
    return ['--cfg-options'] + items


def build_model(demo_root, tmp_path, **model_overrides):
    """A tiny PBIP model of the demo config with random prototypes (K = 2, 1,
    2, 1)."""
    cfg = Config.fromfile(PBIP_DEMO)
    cfg.merge_from_dict(tiny_pbip_options(demo_root, str(tmp_path)))
    cfg.model.update(model_overrides)
    model = MODELS.build(cfg.model)
    model.init_weights()
    k = (2, 1, 2, 1)
    model.head.set_prototypes(torch.randn(sum(k), 512), k)
    return model


def batch(labels, size=64, white_corner=False):
    """A data batch of random images with the given image-level labels (None
    for an unlabelled image)."""
    imgs = torch.rand(len(labels), 3, size, size) * 120
    if white_corner:
        imgs[:, :, :8, :8] = 255.
    samples = []
    for label in labels:
        s = SegDataSample(
            metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
        if label is not None:
            s.gt_cls_label = torch.tensor(label, dtype=torch.float32)
        samples.append(s)
    return dict(inputs=list(imgs.to(torch.uint8)), data_samples=samples)
