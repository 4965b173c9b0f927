"""PBIPSegmentor: loss and predict paths, and a real training run."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from utils import PBIP_DEMO, batch, build_model, tiny_pbip_options

from mmseg_pbip.image_bank import load_image_bank
from mmseg_pbip.utils import safe_load


def test_loss_path(demo_root, tmp_path):
    model = build_model(demo_root, tmp_path)
    data = model.data_preprocessor(batch([[1, 0, 1, 0], [0, 1, 0, 0]]), True)
    losses = model.loss(**data)
    assert set(losses) == {'loss_cls', 'loss_fg', 'loss_bg', 'loss_cam_reg'}
    total = sum(losses.values())
    total.backward()
    grads = [p.grad for p in model.backbone.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    # the frozen encoder never gets gradients of its own
    assert all(p.grad is None for p in model.image_encoder.parameters())


def test_cls_only_ablation(demo_root, tmp_path):
    model = build_model(demo_root, tmp_path, match_loss=None)
    data = model.data_preprocessor(batch([[1, 1, 0, 0]]), True)
    assert set(model.loss(**data)) == {'loss_cls'}


def test_missing_labels_are_an_error(demo_root, tmp_path):
    model = build_model(demo_root, tmp_path)
    data = model.data_preprocessor(batch([None]), True)
    with pytest.raises(KeyError, match='gt_cls_label'):
        model.loss(**data)


def test_predict_path(demo_root, tmp_path):
    # our opt-in rules: glass -> background, ties -> a labelled class
    model = build_model(
        demo_root, tmp_path, white_threshold=200.,
        argmax_present_only=True).eval()
    data = model.data_preprocessor(
        batch([[0, 1, 0, 1], [1, 0, 0, 0]], white_corner=True), False)
    with torch.no_grad():
        out = model.predict(**data)
    for s, allowed in zip(out, [{1, 3, 4}, {0, 4}]):
        pred = s.pred_sem_seg.data
        assert pred.shape == (1, 64, 64)
        assert set(pred.unique().tolist()) <= allowed
        assert (pred[0, :8, :8] == 4).all()  # white glass -> background
        assert s.seg_logits.data.shape == (4, 64, 64)
    assert model._forward(data['inputs'])['cams'][0].shape[1] == 4
    # without image-level labels no class is masked: the prediction is the
    # argmax over all four fused CAMs (glass aside)
    data = model.data_preprocessor(batch([None]), False)
    with torch.no_grad():
        sample = model.predict(**data)[0]
    pred, cams = sample.pred_sem_seg.data[0], sample.seg_logits.data
    assert (cams.flatten(1).amax(1) > 0).all()  # no class zeroed
    tissue = pred != 4
    assert tissue.any()
    assert torch.equal(pred[tissue], cams.argmax(0)[tissue])
    # released: the glass corner keeps a tissue class
    model = build_model(demo_root, tmp_path).eval()
    data = model.data_preprocessor(
        batch([[0, 1, 0, 1]], white_corner=True), False)
    with torch.no_grad():
        pred = model.predict(**data)[0].pred_sem_seg.data
    assert int(pred.max()) < 4


def test_train_builds_bank_checkpoints_and_resumes(demo_root, tmp_path):
    work_dir = str(tmp_path / 'work')
    cfg = Config.fromfile(PBIP_DEMO)
    cfg.merge_from_dict(tiny_pbip_options(demo_root, work_dir, max_iters=2))
    runner = Runner.from_cfg(cfg)
    runner.train()
    bank_file = osp.join(work_dir, 'bank.pth')
    bank = load_image_bank(bank_file, ('TUM', 'STR', 'LYM', 'NEC'), 512)
    # K = 2 per class, fewer where the tiny set has fewer usable patches
    assert all(1 <= k <= 2 for k in bank['k_per_class'])
    ckpt = safe_load(osp.join(work_dir, 'iter_2.pth'))
    assert torch.equal(ckpt['state_dict']['head.prototypes'],
                       bank['prototypes'])
    assert ckpt['state_dict']['head.k_per_class'].tolist() == \
        bank['k_per_class']
    metrics = runner.val_loop.run()
    assert {'mIoU', 'FwIoU', 'bIoU', 'Dice'} <= set(metrics)

    cfg = Config.fromfile(PBIP_DEMO)
    cfg.merge_from_dict(tiny_pbip_options(demo_root, work_dir, max_iters=3))
    cfg.resume = True
    cfg.experiment_name = 'resumed'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 3
    assert osp.isfile(osp.join(work_dir, 'iter_3.pth'))


def test_test_time_augmentation(demo_root, tmp_path):
    model = build_model(demo_root, tmp_path).eval()
    data = model.data_preprocessor(batch([[1, 1, 0, 1]]), False)
    inputs = data['inputs']
    with torch.no_grad():
        model.tta_flips, model.tta_intensities = [False], [1.0]
        plain = model.fused_cams(inputs)
        # the identity "augmentation" through the TTA path changes nothing
        model.tta_flips, model.tta_intensities = [False, False], [1.0]
        assert torch.allclose(model.fused_cams(inputs), plain, atol=1e-5)
        model.tta_flips, model.tta_intensities = [False, True], [0.9, 1.1]
        cams = model.fused_cams(inputs)
        # the four views computed one by one: flip, then scale the network
        # input, back-flip the maps, average
        views = [
            model._fused_cams_once(inputs * 0.9, None),
            model._fused_cams_once(inputs * 1.1, None),
            model._fused_cams_once(inputs.flip(-1) * 0.9, None).flip(-1),
            model._fused_cams_once(inputs.flip(-1) * 1.1, None).flip(-1),
        ]
    assert torch.allclose(cams, sum(views) / 4, atol=1e-6)
    assert not torch.allclose(cams, plain)


def test_without_test_views(demo_root, tmp_path):
    """Pseudo labels and slides build a CAM model from one plain view (config-
    level; nothing is switched on a built model); other segmentors' configs
    pass unchanged."""
    from utils import STAGE2_DEMO

    from mmseg_pbip.models.segmentors import without_test_views
    cfg = Config.fromfile(PBIP_DEMO)
    assert list(cfg.model.tta_flips) == [False, True]
    single = without_test_views(cfg.model)
    assert list(single['tta_flips']) == [False]
    assert list(single['tta_intensities']) == [1.0]
    assert list(cfg.model.tta_flips) == [False, True]  # a copy
    rest = {k: v for k, v in single.items() if not k.startswith('tta_')}
    assert rest == {
        k: v
        for k, v in cfg.model.items() if not k.startswith('tta_')
    }
    stage_two = Config.fromfile(STAGE2_DEMO).model
    copied = without_test_views(stage_two)
    assert copied == stage_two and copied is not stage_two
    # no view at all is refused at build
    for empty in (dict(tta_flips=()), dict(tta_intensities=())):
        with pytest.raises(ValueError, match='at least one value'):
            build_model(demo_root, tmp_path, **empty)
    # a model built so predicts the plain view's CAMs
    model = build_model(demo_root, tmp_path).eval()
    plain = build_model(
        demo_root, tmp_path, tta_flips=(False, ),
        tta_intensities=(1.0, )).eval()
    plain.load_state_dict(model.state_dict())
    data = model.data_preprocessor(batch([[1, 1, 0, 1]]), False)
    with torch.no_grad():
        assert torch.equal(
            plain.fused_cams(data['inputs']),
            model._fused_cams_once(data['inputs'], None))


def test_cls_loss_name_is_the_log_key(demo_root, tmp_path):
    cfg_loss = dict(
        type='MultiStageClsLoss',
        stage_weights=(0., 0.1, 1., 1.),
        loss_name='loss_multistage')
    model = build_model(
        demo_root, tmp_path, match_loss=None, cls_loss=cfg_loss)
    data = model.data_preprocessor(batch([[1, 1, 0, 0]]), True)
    assert set(model.loss(**data)) == {'loss_multistage'}
