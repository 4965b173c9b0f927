"""Crafted files never run; mismatched banks and checkpoints are clear errors
naming the file, not shape exceptions deep in torch."""
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from utils import (PBIP_DEMO, SEGFORMER_DEMO, cfg_options, run,
                   tiny_pbip_options, tiny_segformer_options)

from mmseg_pbip.utils import safe_load


class SystemPayload:
    """Unpickling this runs ``touch <marker>``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


@pytest.fixture(scope='module')
def segformer_ckpt(demo_root, tmp_path_factory):
    """A real 1-iteration checkpoint of the tiny demo SegFormer."""
    work_dir = str(tmp_path_factory.mktemp('segformer'))
    cfg = Config.fromfile(SEGFORMER_DEMO)
    cfg.merge_from_dict(tiny_segformer_options(demo_root, work_dir, 1, 1))
    Runner.from_cfg(cfg).train()
    return osp.join(work_dir, 'iter_1.pth')


def test_crafted_checkpoint_through_the_test_tool(demo_root, tmp_path):
    """tools/test.py with a checkpoint whose unpickling runs a command:

    refused, even with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 (MMEngine's own
    loader calls torch.load without weights_only, which that variable turns
    into full unpickling; ours passes weights_only=True).
    """
    marker = tmp_path / 'ran'
    evil = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'meta': SystemPayload(marker)}, evil)
    opts = tiny_segformer_options(demo_root, str(tmp_path / 'w'))
    code, out = run(
        ['tools/test.py', SEGFORMER_DEMO, evil] + cfg_options(opts),
        check=False,
        env={'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD': '1'})
    assert code != 0
    assert f'checkpoint {evil} cannot be loaded safely' in out
    assert not marker.exists()


def test_mmengine_loader_is_the_safe_one_during_a_run(tmp_path, monkeypatch):
    """Between before_run and after_run of SafeCheckpointLoadingHook,
    MMEngine's local loader is the safe one; outside, importing mmseg_pbip has
    left MMEngine's own loader in place (other codebases keep it)."""
    from mmengine.runner import CheckpointLoader

    from mmseg_pbip.engine.hooks import SafeCheckpointLoadingHook
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    marker = tmp_path / 'ran'
    evil = str(tmp_path / 'evil.pth')
    torch.save({'x': SystemPayload(marker)}, evil)
    mmengine_loader = CheckpointLoader._schemes['']
    assert mmengine_loader.__module__.startswith('mmengine')
    hook = SafeCheckpointLoadingHook()
    hook.before_run(None)
    try:
        with pytest.raises(ValueError, match='cannot be loaded safely'):
            CheckpointLoader.load_checkpoint(evil)
    finally:
        hook.after_run(None)
    assert CheckpointLoader._schemes[''] is mmengine_loader
    with pytest.raises(ValueError, match='cannot be loaded safely'):
        safe_load(evil)
    assert not marker.exists()


def segformer_test_runner(demo_root, tmp_path, ckpt, **extra):
    cfg = Config.fromfile(SEGFORMER_DEMO)
    cfg.merge_from_dict(tiny_segformer_options(demo_root, str(tmp_path)))
    cfg.merge_from_dict(extra)
    cfg.load_from = ckpt
    return Runner.from_cfg(cfg)


def test_checkpoint_with_another_number_of_classes(demo_root, tmp_path,
                                                   segformer_ckpt):
    runner = segformer_test_runner(demo_root, tmp_path, segformer_ckpt,
                                   **{'model.decode_head.num_classes': 6})
    with pytest.raises(ValueError) as err:
        runner.test()
    msg = str(err.value)
    assert msg.startswith(f'{segformer_ckpt} does not fit this config')
    assert 'decode_head.conv_seg.weight has shape (5, 16, 1, 1) in the ' \
        'checkpoint, (6, 16, 1, 1) in the model' in msg


def test_checkpoint_of_other_classes(demo_root, tmp_path, segformer_ckpt):
    ckpt = safe_load(segformer_ckpt)
    meta = ckpt['meta']['dataset_meta']
    meta['classes'] = ('Tumor', 'Necrosis', 'Lymph', 'Stroma', 'BG')
    other = str(tmp_path / 'luad.pth')
    torch.save(ckpt, other)
    with pytest.raises(ValueError, match=r'trained on the classes'):
        segformer_test_runner(demo_root, tmp_path / 'a', other).test()
    # on purpose: a warning, and the test runs
    runner = segformer_test_runner(
        demo_root, tmp_path / 'b', other,
        **{'default_hooks.checkpoint_check.allow_mismatch': True})
    assert 'mIoU' in runner.test()


def pbip_runner(demo_root, work_dir, **extra):
    cfg = Config.fromfile(PBIP_DEMO)
    cfg.merge_from_dict(tiny_pbip_options(demo_root, work_dir, 1))
    cfg.merge_from_dict(extra)
    return Runner.from_cfg(cfg)


def test_bank_of_another_encoder_or_classes(demo_root, tmp_path):
    work_dir = str(tmp_path / 'w')
    pbip_runner(demo_root, work_dir).train()  # builds w/bank.pth
    bank = osp.join(work_dir, 'bank.pth')
    # same encoder type and size, other weights
    runner = pbip_runner(
        demo_root, str(tmp_path / 'a'), **{
            'custom_hooks.1.bank_file': bank,
            'model.image_encoder.projection_seed': 7
        })
    with pytest.raises(ValueError, match='built with MedCLIPVisionEncoder') \
            as err:
        runner.train()
    assert str(err.value).startswith(bank)
    # another encoder type (CLIP), another feature size; fed the network's
    # normalised input as the demo's released-style bank is (a second
    # normalisation is refused at build, see tests/test_switch_rules.py)
    clip = dict(
        _delete_=True,
        type='CLIPVisionEncoder',
        allow_random_init=True,
        normalize=False,
        hf_config=dict(
            image_size=56,
            patch_size=28,
            hidden_size=16,
            intermediate_size=16,
            num_hidden_layers=1,
            num_attention_heads=1,
            projection_dim=32))
    with pytest.raises(
            ValueError, match='512-d, the configured encoder '
            'gives 32-d'):
        pbip_runner(
            demo_root, str(tmp_path / 'b'), **{
                'custom_hooks.1.bank_file': bank,
                'model.head.prototype_dim': 32,
                'model.image_encoder': clip
            }).train()
    clip['hf_config']['projection_dim'] = 512
    with pytest.raises(
            ValueError,
            match='built with MedCLIPVisionEncoder.*'
            'the config.s encoder is CLIPVisionEncoder'):
        pbip_runner(
            demo_root, str(tmp_path / 'c'), **{
                'custom_hooks.1.bank_file': bank,
                'model.image_encoder': clip
            }).train()
    # other class names
    data = safe_load(bank)
    data['class_names'] = ['Tumor', 'Necrosis', 'Lymph', 'Stroma']
    torch.save(data, bank)
    runner = pbip_runner(demo_root, str(tmp_path / 'd'),
                         **{'custom_hooks.1.bank_file': bank})
    with pytest.raises(ValueError, match='image bank classes'):
        runner.train()
