"""Switches that cannot be combined wrongly: the combinations of the released
/ paper switches that PBIPSegmentor and ImageBankHook refuse, and those they
accept (every shipped config's own values among them)."""
import glob
import inspect
import os.path as osp
from types import SimpleNamespace

import pytest
from mmengine.config import Config
from mmseg.registry import HOOKS, MODELS
from utils import PBIP_DEMO, REPO, run, tiny_pbip_options

from mmseg_pbip.models.utils.switch_rules import (BANK_RULES, MODEL_RULES,
                                                  bank_switches,
                                                  check_switches, holds,
                                                  pbip_switches)

PAPER = osp.join(REPO, 'configs', 'pbip', 'pbip-paper_mit-b1_1xb10-10e_'
                 'bcss-wsss-224x224.py')


def pbip_configs():
    """Every shipped full config whose model is a PBIPSegmentor."""
    found = []
    for path in sorted(glob.glob(osp.join(REPO, 'configs', '*', '*.py'))):
        if Config.fromfile(path).get('model', {}).get('type') == \
                'PBIPSegmentor':
            found.append(osp.relpath(path, REPO))
    return found


PBIP_CONFIGS = pbip_configs()


def tiny_cfg(**overrides):
    """The demo config, shrunk for tests, with ``model.``-relative dotted
    overrides (``None`` for ``match_loss`` removes it)."""
    cfg = Config.fromfile(PBIP_DEMO)
    cfg.merge_from_dict({
        k: v
        for k, v in tiny_pbip_options('unused', 'unused').items()
        if k.startswith('model.') or k.startswith('custom_hooks')
    })
    if overrides.pop('match_loss', True) is None:
        cfg.model.match_loss = None
    cfg.merge_from_dict({'model.' + k: v for k, v in overrides.items()})
    return cfg


def tiny_model(**overrides):
    return MODELS.build(tiny_cfg(**overrides).model)


def refused(error, *keys):
    """``error`` names each ``(key, value)`` as ``key=value``."""
    message = str(error.value)
    for key, value in keys:
        assert f'{key}={value!r}' in message, (key, value, message)
    assert 'allowed:' in message
    return message


# model overrides that PBIPSegmentor refuses, with the (key, resolved value)
# pairs the message must name
REFUSED = [
    # the example: eq. 9-12 on subclass maps, identity ownership
    (dict(match_cams='subclass',
          **{'match_loss.contrast':
             'paper'}), [('match_loss.contrast', 'paper'),
                         ('match_cams', 'subclass')]),
    (dict(match_cams='subclass',
          match_stages=(1, 2)), [('match_cams', 'subclass'),
                                 ('match_stages', (1, 2))]),
    (dict(train_merge='hard_max'), [('match_loss', 'ImgMatchLoss'),
                                    ('match_cams', 'subclass'),
                                    ('train_merge', 'hard_max')]),
    (dict(match_cams='class',
          match_stages=(0, -4)), [('match_stages', (0, -4)),
                                  ('head.stages', [0, 1, 2, 3])]),
    (dict(match_cams='class', match_stages=(4, )), [('match_stages', (4, ))]),
    (dict(match_cams='class', match_stages=()), [('match_stages', ())]),
    (dict(cam_fusion_weights=(0.3, 0.3, 0.4)),
     [('cam_fusion_weights', (0.3, 0.3, 0.4)), ('head.stages', [0, 1, 2, 3])]),
    (dict(cam_fusion_weights=(0., 0., 0., 0.)), [('cam_fusion_weights',
                                                  (0., 0., 0., 0.))]),
    (dict(cam_fusion_weights=(0., -0.3, 0.3, 0.4)), [('cam_fusion_weights',
                                                      (0., -0.3, 0.3, 0.4))]),
    (dict(**{'cls_loss.stage_weights': (0.1, 1., 1.)}),
     [('cls_loss.stage_weights', [0.1, 1., 1.])]),
    # stage 0 fused but trained by nothing (released cls weight 0)
    (dict(cam_fusion_weights=(0.1, 0.3, 0.3, 0.4)),
     [('cam_fusion_weights', (0.1, 0.3, 0.3, 0.4)),
      ('cls_loss.stage_weights', [0., 0.1, 1., 1.])]),
    (dict(argmax_present_only=True,
          mask_cams_by_label=False), [('argmax_present_only', True),
                                      ('mask_cams_by_label', False)]),
    (dict(**{'match_loss.minmax_before_mask': False}),
     [('match_loss.cam_scaling', 'raw'),
      ('match_loss.minmax_before_mask', False)]),
    (dict(**{'image_encoder.normalize': True}), [
        ('match_loss.image_space', 'inputs'), ('image_encoder.normalize', True)
    ]),
    (dict(**{'match_loss.threshold': 0.}), [('match_loss.threshold', 0.)]),
    (dict(**{'match_loss.threshold': 1.5}), [('match_loss.threshold', 1.5)]),
    (dict(**{'match_loss.temperature': 0.}), [('match_loss.temperature', 0.)]),
    (dict(**{'match_loss.bg_weight': -0.1}), [('match_loss.bg_weight', -0.1)]),
    (dict(match_cams='pixel'), [('match_cams', 'pixel')]),
    (dict(test_merge='softmax'), [('test_merge', 'softmax')]),
    (dict(**{'head.prototype_dim': 256}), [('head.prototype_dim', 256),
                                           ('image_encoder.out_channels', 512)
                                           ]),
]


@pytest.mark.parametrize('overrides,keys', REFUSED)
def test_model_refuses(overrides, keys):
    with pytest.raises(ValueError, match='PBIPSegmentor') as e:
        tiny_model(**overrides)
    refused(e, *keys)


def test_cls_only_model_refuses_an_untrained_fused_stage():
    with pytest.raises(ValueError) as e:
        tiny_model(match_loss=None, cam_fusion_weights=(1., 0.3, 0.3, 0.4))
    refused(e, ('match_loss', None),
            ('cam_fusion_weights', (1., 0.3, 0.3, 0.4)))


def test_every_violated_rule_in_one_message():
    with pytest.raises(ValueError) as e:
        tiny_model(
            match_cams='subclass',
            argmax_present_only=True,
            mask_cams_by_label=False,
            **{
                'match_loss.contrast': 'paper',
                'match_loss.minmax_before_mask': False
            })
    message = refused(e, ('match_loss.contrast', 'paper'),
                      ('argmax_present_only', True),
                      ('match_loss.minmax_before_mask', False))
    assert '3 switch combination(s)' in message


PAPER_MODEL = {
    k: v
    for k, v in Config.fromfile(PAPER).model.items()
    if k in ('match_cams', 'match_stages', 'train_merge', 'test_merge',
             'cam_fusion_weights', 'tta_flips', 'tta_intensities')
}
ACCEPTED = [
    {},  # released (the demo computes the released maths)
    # the paper's switches on the tiny model
    dict(
        PAPER_MODEL, **{
            'head.logit_scale': 1.0,
            'head.learnable_scale': False,
            'head.normalize_prototypes': True,
            'image_encoder.normalize': True,
            'cls_loss.stage_weights': (1., 1., 1., 0.),
            'match_loss.threshold': 0.15,
            'match_loss.cam_scaling': 'relu_max',
            'match_loss.minmax_before_mask': False,
            'match_loss.image_space': 'rgb01',
            'match_loss.contrast': 'paper',
            'match_loss.normalize_prototypes': True,
            'match_loss.temperature': 1.0,
        }),
    # ours: M' with the released InfoNCE (a class's K prototypes positive)
    dict(match_cams='class', match_stages=(0, 1, 2)),
    dict(match_cams='class', match_stages=(-1, ), train_merge='hard_max'),
    dict(train_merge='max', test_merge='hard_max'),
    # the foundation-model configs' FG/BG images
    {
        'match_loss.cam_scaling': 'relu_max',
        'match_loss.minmax_before_mask': False,
        'match_loss.image_space': 'rgb01'
    },
    {
        'match_loss.cam_scaling': 'relu_max'
    },
    {
        'match_loss.image_space': 'rgb01',
        'image_encoder.normalize': False
    },
    # ours, opt-in: cosine head at the released scale, glass, present-only
    {
        'head.normalize_prototypes': True
    },
    dict(white_threshold=200., argmax_present_only=True),
    # the classification-only ablation ignores the match switches
    dict(match_loss=None, train_merge='hard_max'),
    # a stage fused at test but trained only by the match loss
    dict(cam_fusion_weights=(0.2, 0.3, 0.3, 0.4), match_stages=(0, )),
]


@pytest.mark.parametrize('overrides', ACCEPTED)
def test_model_accepts(overrides):
    model = tiny_model(**overrides)
    check_switches(pbip_switches(model), MODEL_RULES, 'test')


def encoder_normalize(encoder_cfg):
    """``normalize`` of an image encoder config, its class's default when the
    config leaves it out."""
    if 'normalize' in encoder_cfg:
        return encoder_cfg['normalize']
    cls = MODELS.get(encoder_cfg['type'])
    return inspect.signature(cls.__init__).parameters['normalize'].default


def config_switches(path):
    """A shipped config's resolved switches, from real head, losses and hook
    (an image encoder of the config's ``normalize`` stands in for the encoder,
    which would be a full-size model; tests/test_tools.py builds those)."""
    cfg = Config.fromfile(osp.join(REPO, path))
    args = {
        name: p.default
        for name, p in inspect.signature(MODELS.get(
            'PBIPSegmentor').__init__).parameters.items()
    }
    args.update(cfg.model)
    head = dict(args['head'])
    if head.get('prototype_dim', 512) is None:
        head['prototype_dim'] = 1024  # the encoder's size, whatever it is
    head = MODELS.build(head)
    args.pop('self')
    args.update(
        head=head,
        image_encoder=SimpleNamespace(
            out_channels=head.prototype_dim,
            normalize=encoder_normalize(args['image_encoder'])),
        cls_loss=MODELS.build(args['cls_loss']),
        match_loss=MODELS.build(args['match_loss'])
        if args['match_loss'] else None)
    model = SimpleNamespace(**args)
    hooks = [h for h in cfg.custom_hooks if h['type'] == 'ImageBankHook']
    assert len(hooks) == 1, path
    return model, HOOKS.build(hooks[0])


def test_every_pbip_config_is_checked():
    assert len(PBIP_CONFIGS) >= 15
    assert 'configs/pbip/pbip-paper_mit-b1_1xb10-10e_bcss-wsss-224x224.py' \
        in PBIP_CONFIGS
    assert any('cls-only' in p for p in PBIP_CONFIGS)


@pytest.mark.parametrize('path', PBIP_CONFIGS)
def test_shipped_config_values_are_accepted(path):
    model, hook = config_switches(path)
    values = pbip_switches(model)
    check_switches(values, MODEL_RULES, path)
    check_switches(
        bank_switches(hook.settings, model.image_encoder, model.match_loss),
        BANK_RULES, path)
    hook.check_model(model.image_encoder, model.match_loss)
    # every rule applied (none skipped for a missing key) where a match
    # loss exists
    if model.match_loss is not None:
        assert all(all(k in values for k in r.keys) for r in MODEL_RULES)


def test_paper_and_released_values_as_documented():
    """The two variants' resolved values of the keys in the rules."""
    released, _ = config_switches(
        'configs/pbip/pbip_mit-b1_1xb10-8e_bcss-wsss-224x224.py')
    paper, hook = config_switches(osp.relpath(PAPER, REPO))
    r, p = pbip_switches(released), pbip_switches(paper)
    assert (r['match_cams'], r['match_loss.contrast']) == ('subclass',
                                                           'infonce')
    assert (p['match_cams'], p['match_loss.contrast']) == ('class', 'paper')
    assert (p['match_loss.cam_scaling'],
            p['match_loss.minmax_before_mask']) == ('relu_max', False)
    assert (p['match_loss.image_space'], p['image_encoder.normalize'],
            hook.settings['input_space']) == ('rgb01', True, 'rgb01')


# hook settings that ImageBankHook refuses with the released (demo) model
BANK_REFUSED = [
    (dict(input_space='rgb01'), [('ImageBankHook.input_space', 'rgb01'),
                                 ('match_loss.image_space', 'inputs')]),
    (dict(stretch=False), [('ImageBankHook.stretch', False),
                           ('match_loss.minmax_before_mask', True)]),
    (dict(input_space='bgr'), [('ImageBankHook.input_space', 'bgr')]),
    (dict(kmeans='kmeans++'), [('ImageBankHook.kmeans', 'kmeans++')]),
    (dict(prototype_rule='nearest_mean',
          n_per_cluster=0), [('ImageBankHook.prototype_rule', 'nearest_mean'),
                             ('ImageBankHook.n_per_cluster', 0)]),
    (dict(prototype_rule='medoid'), [('ImageBankHook.prototype_rule', 'medoid')
                                     ]),
    (dict(k_per_class=0), [('ImageBankHook.k_per_class', 0)]),
]


@pytest.fixture(scope='module')
def released_model():
    return tiny_model()


@pytest.mark.parametrize('settings,keys', BANK_REFUSED)
def test_hook_refuses(released_model, tmp_path, settings, keys):
    """Refused in before_run, before any file is read or written."""
    hook = HOOKS.build(dict(type='ImageBankHook', **settings))
    runner = SimpleNamespace(
        model=released_model, work_dir=str(tmp_path), cfg=Config())
    with pytest.raises(ValueError, match='ImageBankHook') as e:
        hook.before_run(runner)
    refused(e, *keys)
    assert not list(tmp_path.iterdir())


def test_hook_refuses_the_released_bank_for_the_paper_model():
    paper, _ = config_switches(osp.relpath(PAPER, REPO))
    hook = HOOKS.build(dict(type='ImageBankHook'))  # released defaults
    with pytest.raises(ValueError) as e:
        hook.check_model(paper.image_encoder, paper.match_loss)
    message = refused(e, ('ImageBankHook.input_space', 'inputs'),
                      ('image_encoder.normalize', True),
                      ('match_loss.image_space', 'rgb01'),
                      ('ImageBankHook.stretch', True),
                      ('match_loss.minmax_before_mask', False))
    assert '3 switch combination(s)' in message


BANK_ACCEPTED = [
    # the network's input space without the stretch, on both sides
    (dict(stretch=False), {
        'match_loss.minmax_before_mask': False,
        'match_loss.cam_scaling': 'relu_max'
    }),
    # RGB in [0, 1]: stretched or not, whatever the FG/BG images' stretch
    (dict(input_space='rgb01', stretch=True), {
        'match_loss.image_space': 'rgb01'
    }),
    (dict(input_space='rgb01', augment=True), {
        'match_loss.image_space': 'rgb01',
        'image_encoder.normalize': True,
    }),
    (dict(kmeans='sklearn', prototype_rule='nearest_mean'), {}),
    # no match loss: only the encoder's input space matters
    (dict(input_space='rgb01', stretch=False), dict(match_loss=None)),
]


@pytest.mark.parametrize('settings,overrides', BANK_ACCEPTED)
def test_hook_accepts(settings, overrides):
    model = tiny_model(**overrides)
    HOOKS.build(dict(type='ImageBankHook',
                     **settings)).check_model(model.image_encoder,
                                              model.match_loss)


def test_values_that_cannot_be_compared_are_refused():
    rule = [r for r in MODEL_RULES if r.keys == ('match_loss.threshold', )]
    assert not holds(rule[0], {'match_loss.threshold': None})
    assert holds(rule[0], {})  # no match loss: the rule does not apply


def test_build_image_bank_tool_refuses(tmp_path):
    """The tool checks before encoding anything."""
    cfg = tiny_cfg()
    cfg.custom_hooks[1].input_space = 'rgb01'
    path = str(tmp_path / 'cfg.py')
    cfg.dump(path)
    out = str(tmp_path / 'bank.pth')
    code, log = run(['tools/build_image_bank.py', path, '--out', out],
                    check=False)
    assert code != 0
    assert "ImageBankHook.input_space='rgb01'" in log
    assert "match_loss.image_space='inputs'" in log
    assert not osp.exists(out)
