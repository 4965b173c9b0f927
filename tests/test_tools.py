"""The command-line tools and configs, run as a user runs them."""
import glob
import json
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch
from utils import (REPO, SEGFORMER_DEMO, cfg_options, run,
                   tiny_segformer_options)


def test_generate_demo_data(tmp_path):
    out = str(tmp_path / 'demo')
    args = [
        'tools/generate_demo_data.py', out, '--num-train', '6', '--num-val',
        '2', '--num-test', '2', '--size', '48'
    ]
    _, log = run(args)
    assert 'wrote' in log
    names = sorted(os.listdir(osp.join(out, 'training')))
    assert len(names) == 6
    assert all(re.search(r'\+0\[[01]{4}\]\.png$', n) for n in names)
    assert len(os.listdir(osp.join(out, 'val', 'mask'))) == 2
    _, log = run(args)  # same parameters: left as it is
    assert 'already there' in log
    code, log = run(args[:2] + ['--seed', '3'], check=False)
    assert code != 0 and '--overwrite' in log
    with open(osp.join(out, 'demo_meta.json')) as f:
        assert json.load(f)['seed'] == 0


def test_train_resume_and_test(demo_root, tmp_path):
    work_dir = str(tmp_path / 'work')
    opts = tiny_segformer_options(demo_root, work_dir, max_iters=2)
    _, log = run(['tools/train.py', SEGFORMER_DEMO] + cfg_options(opts))
    assert 'RANDOM INITIALISATION' in log
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))

    opts = tiny_segformer_options(demo_root, work_dir, max_iters=3)
    _, log = run(['tools/train.py', SEGFORMER_DEMO, '--resume'] +
                 cfg_options(opts))
    assert 'resumed epoch: 0, iter: 2' in log
    assert osp.isfile(osp.join(work_dir, 'iter_3.pth'))

    show_dir = str(tmp_path / 'show')
    _, log = run([
        'tools/test.py', SEGFORMER_DEMO,
        osp.join(work_dir, 'iter_3.pth'), '--work-dir',
        str(tmp_path / 'test'), '--show-dir', show_dir
    ] + cfg_options(tiny_segformer_options(demo_root, work_dir)))
    for key in ('mIoU', 'FwIoU', 'bIoU', 'Dice'):
        assert re.search(rf'{key}: \d+\.\d+', log), key
    assert 'per class results' in log
    assert glob.glob(osp.join(show_dir, '**', '*.png'), recursive=True)


def test_random_init_must_be_explicit(demo_root, tmp_path):
    opts = tiny_segformer_options(demo_root, str(tmp_path / 'w'))
    opts['allow_random_init'] = False
    code, log = run(
        ['tools/train.py', SEGFORMER_DEMO] + cfg_options(opts), check=False)
    assert code != 0 and 'allow_random_init=True' in log


def test_external_project_config_with_stock_mmseg_tool(demo_root, tmp_path):
    """Another MMSeg project inherits our _base_ files and trains with MMSeg's
    own tools/train.py, registering us through custom_imports."""
    project = tmp_path / 'my_project'
    project.mkdir()
    base = osp.join(REPO, 'configs', '_base_')
    (project / 'my_config.py').write_text(f'''
_base_ = [
    'mmseg::_base_/models/segformer_mit-b0.py',
    {osp.join(base, 'models', 'histo_data_preprocessor.py')!r},
    {osp.join(base, 'datasets', 'demo.py')!r},
    {osp.join(base, 'schedules', 'sgd_poly_20k.py')!r},
    {osp.join(base, 'default_runtime.py')!r},
]
custom_imports = dict(imports=['mmseg_pbip'], allow_failed_imports=False)
allow_random_init = True
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor={{{{_base_.histo_data_preprocessor}}}},
    decode_head=dict(num_classes=5, norm_cfg=norm_cfg))
train_dataloader = dict(dataset=dict(
    data_prefix=dict(img_path='val/img', seg_map_path='val/mask'),
    cls_label_from='mask',
    pipeline=[dict(type='LoadHistoImageFromFile'),
              dict(type='LoadHistoAnnotations'),
              dict(type='PackHistoSegInputs')]))
val_dataloader = {{{{_base_.test_dataloader}}}}
''')
    import mmseg
    stock_train = osp.join(
        osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
    opts = tiny_segformer_options(demo_root, str(tmp_path / 'work'))
    _, log = run(
        [stock_train, str(project / 'my_config.py')] + cfg_options(opts),
        cwd=str(project))
    # the schedule brought this plugin's hooks
    for hook in ('AtomicCheckpointHook', 'SafeCheckpointLoadingHook',
                 'NonFiniteLossHook', 'CheckpointCompatibilityHook'):
        assert hook in log
    assert osp.isfile(str(tmp_path / 'work' / 'iter_2.pth'))
    assert re.search(r'mIoU: \d+\.\d+', log)


def offline_weights(node):
    """Replace every weight file of a model config by random init, as a test
    without the files must (``allow_random_init`` where the component asks for
    it); returns how many were replaced."""
    import inspect

    from mmseg.registry import MODELS
    replaced = 0
    if isinstance(node, (list, tuple)):
        return sum(offline_weights(v) for v in node)
    if not isinstance(node, dict):
        return 0
    own = 0
    for key in list(node):
        value = node[key]
        if key == 'init_cfg' and isinstance(value, dict) and \
                value.get('type') == 'Pretrained':
            node[key] = None
            replaced += 1
        elif key in ('checkpoint', 'pretrained', 'swin_pretrained') and \
                isinstance(value, str):
            node[key] = None
            own += 1
        else:
            replaced += offline_weights(value)
    if own and isinstance(node.get('type'), str):
        cls = MODELS.get(node['type'])
        if cls is not None and 'allow_random_init' in inspect.signature(
                cls.__init__).parameters:
            node['allow_random_init'] = True
    return replaced + own


@pytest.mark.parametrize(
    'config',
    sorted(glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)))
def test_every_config_parses_and_builds(config):
    """Every config parses; every full config's model builds at its real size
    (as MMSeg's config test does), weight files replaced by random init, and
    its classes match the dataset's."""
    from mmengine.config import Config
    from mmseg.models.segmentors import BaseSegmentor
    from mmseg.registry import DATASETS, MODELS
    cfg = Config.fromfile(config)
    if osp.sep + '_base_' + osp.sep in config:
        return
    # full configs inherit the plugin import from default_runtime.py
    assert 'mmseg_pbip' in cfg.custom_imports['imports']
    offline_weights(cfg.model)
    model = MODELS.build(cfg.model)
    assert isinstance(model, BaseSegmentor)
    classes = DATASETS.get(
        cfg.test_dataloader.dataset.type).METAINFO['classes']
    if hasattr(model, 'labels_from_cams'):  # CAM segmentors: tissue only
        assert model.num_classes == len(classes) - 1
    else:
        assert model.decode_head.num_classes == len(classes)
    # and MMSeg's --tta wrapper takes it
    tta = MODELS.build(dict(cfg.tta_model, module=model))
    assert tta.module is model


def test_pbip_tools(demo_root, tmp_path):
    """build_image_bank, train, test and benchmark on the PBIP demo config."""
    from utils import PBIP_DEMO, tiny_pbip_options
    work_dir = str(tmp_path / 'work')
    opts = tiny_pbip_options(demo_root, work_dir)
    bank = str(tmp_path / 'bank_tool.pth')
    _, log = run(['tools/build_image_bank.py', PBIP_DEMO, '--out', bank] +
                 cfg_options(opts))
    assert 'k_per_class' in log and osp.isfile(bank)
    opts['custom_hooks.1.bank_file'] = bank  # training loads, not builds
    _, log = run(['tools/train.py', PBIP_DEMO] + cfg_options(opts))
    assert 'building the image bank' not in log
    assert f'image bank {bank}' in log
    out = str(tmp_path / 'predictions')
    _, log = run([
        'tools/test.py', PBIP_DEMO,
        osp.join(work_dir, 'iter_2.pth'), '--work-dir',
        str(tmp_path / 'test'), '--out', out
    ] + cfg_options(opts))
    for key in ('mIoU', 'FwIoU', 'bIoU', 'Dice'):
        assert re.search(rf'{key}: \d+\.\d+', log), key
    # --out: one P-mode PNG per test image, named after it
    from PIL import Image
    images = sorted(os.listdir(osp.join(demo_root, 'test', 'img')))
    assert sorted(os.listdir(out)) == images
    png = Image.open(osp.join(out, images[0]))
    assert png.mode == 'P' and png.size == (64, 64)
    assert set(np.unique(np.asarray(png)).tolist()) <= {0, 1, 2, 3}
    # --tta: MMSeg's TestTimeAug + HistoTTAModel give the views the config's
    # own test-time flips give, so the same scores and the same PNGs
    out_tta = str(tmp_path / 'predictions_tta')
    _, log_tta = run([
        'tools/test.py', PBIP_DEMO,
        osp.join(work_dir, 'iter_2.pth'), '--work-dir',
        str(tmp_path / 'test_tta'), '--tta', '--out', out_tta
    ] + cfg_options(opts))

    def scores(text):
        line = re.search(r'mIoU: .*', text).group(0)
        return [
            kv for kv in re.findall(r'([\w.]+): (\d+\.\d+)', line)
            if 'time' not in kv[0]
        ]

    assert scores(log_tta) == scores(log)
    for name in images:
        assert np.array_equal(
            np.asarray(Image.open(osp.join(out, name))),
            np.asarray(Image.open(osp.join(out_tta, name))))
    _, log = run([
        'tools/analysis_tools/benchmark_train.py', PBIP_DEMO, '--iters', '1',
        '--warmup', '0'
    ] + cfg_options(opts))
    assert re.search(r'throughput: [\d.]+ images/s', log)
    assert re.search(r'peak memory: \d+ MiB', log)


def test_mmseg_config_with_an_mmpretrain_backbone(tmp_path):
    """Mmpretrain is in the tested set for MMSeg's own configs whose backbones
    come from it (ConvNeXt, PoolFormer): MMSeg's UPerNet-ConvNeXt base builds
    for the five histology labels with our normalisation and predicts."""
    from mmengine.config import Config
    from mmseg.registry import MODELS
    (tmp_path / 'convnext_histo.py').write_text(f'''
_base_ = [
    'mmseg::_base_/models/upernet_convnext.py',
    {osp.join(REPO, 'configs', '_base_', 'models',
              'histo_data_preprocessor.py')!r},
]
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor={{{{_base_.histo_data_preprocessor}}}},
    backbone=dict(arch='atto', init_cfg=None, drop_path_rate=0.),
    decode_head=dict(in_channels=[40, 80, 160, 320], channels=16,
                     num_classes=5, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=160, channels=16, num_classes=5,
                        norm_cfg=norm_cfg))
''')
    cfg = Config.fromfile(str(tmp_path / 'convnext_histo.py'))
    assert cfg.custom_imports.imports == 'mmpretrain.models'
    import mmpretrain.models  # noqa: F401  (what custom_imports does)
    model = MODELS.build(cfg.model).eval()
    assert type(model.backbone).__module__.startswith('mmpretrain.')
    with torch.no_grad():
        logits = model(torch.rand(2, 3, 64, 64), mode='tensor')
    assert logits.shape == (2, 5, 16, 16)
