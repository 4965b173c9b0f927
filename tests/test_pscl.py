"""PSCL: SupCon against a direct computation, the confidence filter, and
training steps of stage one and of the Mask2Former stage two."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from utils import REPO, quadrant_mask

from mmseg_pbip.models import PSCLLoss, SupConLoss

PSCL_DEMO = osp.join(REPO, 'configs', 'pscl', 'pscl_swin-mini_1xb8-150'
                     'iters_demo-224x224.py')
M2F_DEMO = osp.join(
    REPO, 'configs', 'pscl', 'mask2former_swin-mini_1xb8-300'
    'iters_demo-pseudo-224x224.py')


def supcon_reference(feats, labels, t):
    z = torch.nn.functional.normalize(feats, dim=1)
    losses = []
    for i in range(len(z)):
        pos = [p for p in range(len(z)) if p != i and labels[p] == labels[i]]
        if not pos:
            continue
        denom = sum(
            math.exp(float(z[i] @ z[a]) / t) for a in range(len(z)) if a != i)
        losses.append(-sum(
            math.log(math.exp(float(z[i] @ z[p]) / t) / denom)
            for p in pos) / len(pos))
    return sum(losses) / len(losses)


@pytest.mark.parametrize('t', [0.1, 0.5])
def test_supcon_matches_direct_computation(t):
    torch.manual_seed(0)
    feats = torch.randn(7, 5)
    labels = torch.tensor([0, 1, 0, 2, 1, 1, 3])  # 3 has no positive
    loss = SupConLoss(temperature=t)(feats, labels)
    assert loss.item() == pytest.approx(
        supcon_reference(feats, labels.tolist(), t), rel=1e-5)


def test_supcon_without_positives_is_zero():
    feats = torch.randn(3, 4, requires_grad=True)
    loss = SupConLoss()(feats, torch.tensor([0, 1, 2]))
    loss.backward()
    assert loss.item() == 0 and torch.isfinite(feats.grad).all()


def test_confidence_filter_and_pseudo_labels():
    loss = PSCLLoss(in_channels=4, bg_score=0.3, conf_threshold=0.5)
    cams = torch.zeros(1, 3, 2, 2)
    cams[0, 0, 0, 0] = 2.0  # class 0, full confidence
    cams[0, 1, 0, 1] = 1.0  # class 1 peak
    cams[0, 1, 1, 1] = 0.4  # class 1 at 0.4: below threshold, above bg
    cams[0, 2, 1, 0] = 5.0  # class 2: absent from the label, masked out
    labels = torch.tensor([[1., 1., 0.]])
    target, conf = loss.pseudo_labels(cams, labels)
    assert target.tolist() == [[[0, 1], [3, 1]]]  # 3 = background
    assert conf[0, 1, 1].item() == pytest.approx(0.4, abs=1e-4)
    assert conf[0, 1, 0].item() == pytest.approx(0.3)
    keep = conf >= loss.conf_threshold
    assert keep.tolist() == [[[True, True], [False, False]]]


def test_all_features_filtered_gives_zero_and_finite_grad():
    loss = PSCLLoss(in_channels=4, conf_threshold=1.1)  # nothing passes
    feats = torch.randn(2, 4, 3, 3, requires_grad=True)
    cams = torch.randn(2, 3, 3, 3, requires_grad=True)
    out = loss(feats, cams, torch.ones(2, 3))
    assert out['loss_pscl'].item() == 0
    out['loss_pscl'].backward()
    assert torch.isfinite(feats.grad).all()
    assert all(
        torch.isfinite(p.grad).all() for p in loss.projector.parameters())


def tiny_batch(labels, size=64, with_seg=False):
    samples = []
    for label in labels:
        s = SegDataSample(
            metainfo=dict(
                img_shape=(size, size),
                ori_shape=(size, size),
                pad_shape=(size, size)))
        s.gt_cls_label = torch.tensor(label, dtype=torch.float32)
        if with_seg:
            s.gt_sem_seg = PixelData(
                data=torch.from_numpy(quadrant_mask((0, 1, 4,
                                                     2), size)).long()[None])
        samples.append(s)
    inputs = [
        torch.randint(0, 200, (3, size, size), dtype=torch.uint8)
        for _ in labels
    ]
    return dict(inputs=inputs, data_samples=samples)


def build(config, **overrides):
    cfg = Config.fromfile(config)
    cfg.model.data_preprocessor.size = (64, 64)
    cfg.model.update(overrides)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


@pytest.mark.parametrize('pscl', [True, False])
def test_stage_one_training_step(pscl):
    overrides = {} if pscl else dict(pscl_loss=None)
    model = build(PSCL_DEMO, **overrides)
    optim = torch.optim.SGD(model.parameters(), lr=0.01)
    before = model.head.classifier.weight.detach().clone()
    data = model.data_preprocessor(
        tiny_batch([[1, 0, 1, 0], [0, 1, 0, 0]]), True)
    losses = model.loss(**data)
    assert set(losses) == ({'loss_mlsm', 'loss_pscl'}
                           if pscl else {'loss_mlsm'})
    sum(losses.values()).backward()
    optim.step()
    assert not torch.equal(before, model.head.classifier.weight)
    model.eval()
    with torch.no_grad():
        pred = model.predict(**model.data_preprocessor(
            tiny_batch([[0, 0, 1, 0]]), False))[0].pred_sem_seg.data
    assert set(pred.unique().tolist()) <= {2, 4}


def test_stage_two_mask2former_training_step():
    import mmdet.models  # noqa: F401  (Mask2Former's components)

    # backbone from random weights here (the config starts it from the
    # stage-one checkpoint, which test_pipeline_e2e-style runs produce)
    cfg = Config.fromfile(M2F_DEMO)
    model = build(M2F_DEMO, backbone=dict(cfg.model.backbone, init_cfg=None))
    data = model.data_preprocessor(
        tiny_batch([[1, 1, 1, 0]], with_seg=True), True)
    losses = model.loss(**data)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.backbone.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_the_head_owns_its_classification_loss():
    """CAMClsHead computes its configured loss: by default the multi-label
    soft-margin loss (computed here from its definition), logged under the
    loss's ``loss_name``, scaled by ``loss_weight``."""
    model = build(PSCL_DEMO, pscl_loss=None).eval()  # no drop path
    data = model.data_preprocessor(
        tiny_batch([[1, 0, 1, 0], [0, 1, 0, 0]]), True)
    labels = torch.tensor([[1., 0., 1., 0.], [0., 1., 0., 0.]])
    with torch.no_grad():
        scores = model._forward(data['inputs'])['cls_scores']
        loss = model.loss(**data)['loss_mlsm']
    # mean over images and classes of -[y log s(x) + (1 - y) log s(-x)]
    expected = 0.
    for i in range(2):
        for c in range(4):
            x, y = float(scores[i, c]), float(labels[i, c])
            expected -= (
                y * math.log(1 / (1 + math.exp(-x))) +
                (1 - y) * math.log(1 / (1 + math.exp(x))))
    assert float(loss) == pytest.approx(expected / 8, rel=1e-5)
    cfg = Config.fromfile(PSCL_DEMO)
    head = dict(
        cfg.model.head,
        loss_cls=dict(
            type='MultiLabelSoftMarginLoss',
            loss_weight=2.,
            loss_name='loss_cls'))
    weighted = build(PSCL_DEMO, pscl_loss=None, head=head).eval()
    weighted.load_state_dict(model.state_dict())
    with torch.no_grad():
        losses = weighted.loss(**data)
    assert set(losses) == {'loss_cls'}
    assert float(losses['loss_cls']) == pytest.approx(expected / 4, rel=1e-5)
