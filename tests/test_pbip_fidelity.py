"""PBIP fidelity: the released-settings and paper configs against reference
computations written here, independently of the package's code.

The reference functions follow the released code's (or the paper's)
formulation step by step: per-pixel features flattened and normalised, loops
over classes for the subclass merges, a loop over pairs for the InfoNCE
sums, masks built image by image. The model is built from the shipped config
files, shrunk only in width (and given random weights), in float64 so that
the comparisons can be tight.
"""
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from utils import REPO

from mmseg_pbip.apis.pseudo_labels import pseudo_label_runner_config

RELEASED = osp.join(REPO, 'configs', 'pbip', 'pbip_mit-b1_1xb10-8e_'
                    'bcss-wsss-224x224.py')
PAPER = osp.join(REPO, 'configs', 'pbip', 'pbip-paper_mit-b1_1xb10-1'
                 '0e_bcss-wsss-224x224.py')
K_LIST = [3, 2, 3, 1]
SIZE = 32


def build(config, seed=0):
    """The config's PBIP model at a tiny width, random weights, float64."""
    cfg = Config.fromfile(config)
    # drop path off, as for any comparison of two forward passes
    cfg.model.backbone.update(
        embed_dims=8,
        num_layers=[1, 1, 1, 1],
        init_cfg=None,
        drop_path_rate=0.)
    cfg.model.head.in_channels = [8, 16, 40, 64]
    cfg.model.image_encoder.update(
        swin_pretrained=None,
        allow_random_init=True,
        input_size=SIZE,
        hf_config=dict(
            image_size=SIZE,
            embed_dim=8,
            depths=[1, 1],
            num_heads=[1, 2],
            window_size=4))
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():  # a real encoder maps a black image to non-zero
        for name, p in model.image_encoder.named_parameters():
            if name.endswith('bias'):
                p.normal_(0, 0.1)
    # prototypes that are NOT unit-norm: the released code never
    # normalises them, the paper's cosine does
    protos = torch.randn(sum(K_LIST), 512) / 512**0.5 * torch.linspace(
        0.5, 2, 512)
    model.head.set_prototypes(protos, K_LIST)
    if model.head.logit_scale.requires_grad:  # released: learnable
        model.head.logit_scale.data = torch.tensor([1 / 0.07, 9., 12., 15.])
    return cfg, model.double()


def batch(seed=0):
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randn(3, 3, SIZE, SIZE, generator=gen, dtype=torch.float64)
    labels = torch.tensor([[1., 1, 0, 1], [0, 0, 1, 0], [1, 0, 1, 1]],
                          dtype=torch.float64)
    samples = []
    for label in labels:
        s = SegDataSample(
            metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE)))
        s.gt_cls_label = label
        samples.append(s)
    return inputs, labels, samples


# -- reference computations ------------------------------------------------
def ref_stage_maps(model, feats, normalize_prototypes):
    """Per stage ``[B, P, h, w]`` maps: unit pixel features (flattened) times
    the MLP-projected prototypes (normalised only for the paper)."""
    maps = []
    for j, f in enumerate(feats):
        b, c, h, w = f.shape
        mlp = model.head.projections[j]
        proto = torch.relu(model.head.prototypes @ mlp[0].weight.T +
                           mlp[0].bias) @ mlp[2].weight.T + mlp[2].bias
        if normalize_prototypes:
            proto = proto / proto.norm(dim=-1, keepdim=True)
        x = f.permute(0, 2, 3, 1).reshape(-1, c)
        x = x / x.norm(dim=-1, keepdim=True)
        logits = model.head.logit_scale[j] * x @ proto.T
        maps.append(logits.view(b, h, w, -1).permute(0, 3, 1, 2))
    return maps


def ref_merge(values, method):
    """Subclass -> class, a loop over the classes' index ranges."""
    out, start = [], 0
    for k in K_LIST:
        group = values[:, start:start + k]
        if method == 'max':
            out.append((torch.softmax(group, 1) * group).sum(1))
        else:
            out.append(group.mean(1))
        start += k
    return torch.stack(out, 1)


def ref_expand(values):
    """Class -> its subclasses, a loop."""
    cols = []
    for n, k in enumerate(K_LIST):
        cols += [values[:, n]] * k
    return torch.stack(cols, 1)


def ref_minmax_c(x, eps):
    out = torch.empty_like(x)
    for s in range(x.shape[0]):
        for c in range(x.shape[1]):
            lo, hi = x[s, c].min(), x[s, c].max()
            out[s, c] = (x[s, c] - lo) / (hi - lo + eps)
    return out


def released_reference(model, inputs, labels):
    """Stage-one losses as the released training step computes them."""
    maps = ref_stage_maps(model, model.backbone(inputs), False)
    pooled = [m.mean((2, 3)) for m in maps]
    merged = [ref_merge(p, 'mean') for p in pooled]
    weights = (0., 0.1, 1., 1.)
    cls = sum(w * F.binary_cross_entropy_with_logits(m, labels)
              for w, m in zip(weights, merged))
    chosen = (pooled[3] > ref_expand(merged[3])).to(labels.dtype) * \
        ref_expand(labels)
    cam = F.interpolate(
        maps[3], (SIZE, SIZE), mode='bilinear', align_corners=True)
    mask = torch.stack([(cam[i] >= cam[i].max() * 0.5).to(cam.dtype)
                        for i in range(cam.shape[0])])
    bi, ci = torch.where(chosen == 1)
    m, b, x = cam[bi, ci][:, None], mask[bi, ci][:, None], inputs[bi]
    fg = ref_minmax_c(m * x, 1e-8) * b
    bg = ref_minmax_c((1 - m) * x, 1e-8) * (1 - b)
    f_fg = model.image_encoder(fg)
    f_bg = model.image_encoder(bg)
    protos = model.head.prototypes
    t = 0.07
    pos_fg = neg_fg = pos_bg = neg_bg = 0
    for i in range(len(bi)):
        own = ci[i]
        others = [j for j in range(protos.shape[0]) if j != own]
        u = f_fg[i] / f_fg[i].norm()
        pos_fg = pos_fg + torch.exp(u @ protos[own] / t)
        neg_fg = neg_fg + torch.exp(u @ protos[own] / t) + torch.exp(
            u @ protos[others].T / t).sum()
        v = f_bg[i] / f_bg[i].norm()
        mean_others = torch.exp(v @ protos[others].T / t).mean()
        pos_bg = pos_bg + mean_others
        neg_bg = neg_bg + mean_others + torch.exp(v @ protos[own] / t)
    loss_fg = -torch.log(pos_fg / neg_fg)
    loss_bg = -torch.log(pos_bg / neg_bg)
    return dict(
        scores=pooled,
        cls=cls,
        fg=loss_fg,
        bg=loss_bg,
        reg=0.0005 * maps[3].mean(),
        pairs=torch.stack([bi, ci], 1),
        total=cls + 0.1 * (loss_fg + loss_bg + 0.0005 * maps[3].mean()))


def paper_reference(model, inputs, labels, pre):
    """Stage-one losses by the paper's equations and the config's choices (eq.

    2-13; see the config's comment).
    """
    maps = ref_stage_maps(model, model.backbone(inputs), True)
    class_maps = [
        ref_merge(m.flatten(2), 'mean').view(m.shape[0], -1, *m.shape[2:])
        for m in maps
    ]
    cls = sum(
        F.binary_cross_entropy_with_logits(c.mean((2, 3)), labels)
        for c in class_maps[:3])
    m_sum = sum(
        F.interpolate(c, (SIZE, SIZE), mode='bilinear', align_corners=True)
        for c in class_maps[:3])
    std = torch.tensor(pre['std'], dtype=inputs.dtype).view(1, 3, 1, 1)
    mean = torch.tensor(pre['mean'], dtype=inputs.dtype).view(1, 3, 1, 1)
    rgb = ((inputs * std + mean) / 255).clamp(0, 1).flip(1)  # BGR -> RGB
    protos = model.head.prototypes
    protos = protos / protos.norm(dim=1, keepdim=True)
    fg_terms, bg_terms = [], []
    for i in range(inputs.shape[0]):
        m_img = m_sum[i].relu()
        m_img = m_img / (m_img.max() + 1e-5)
        for j in range(labels.shape[1]):
            if labels[i, j] == 0:
                continue
            m = m_img[j][None]
            b = (m >= 0.15 * m_img.max()).to(m.dtype)
            f = model.image_encoder((b * m * rgb[i])[None])[0]
            g = model.image_encoder(((1 - b) * (1 - m) * rgb[i])[None])[0]
            start = sum(K_LIST[:j])
            own = list(range(start, start + K_LIST[j]))
            rest = [p for p in range(protos.shape[0]) if p not in own]
            s = protos @ (f / f.norm())  # temperature 1
            s_ff, s_fb = s[own].sum(), s[rest].sum()
            fg_terms.append(-torch.log(
                torch.exp(s_ff) / (torch.exp(s_ff) + torch.exp(s_fb))))
            s = protos @ (g / g.norm())
            s_bb, s_bf = s[rest].mean(), s[own].mean()
            bg_terms.append(-torch.log(
                torch.exp(s_bb) / (torch.exp(s_bf) + torch.exp(s_bb))))
    fg = torch.stack(fg_terms).mean()
    bg = torch.stack(bg_terms).mean()
    return dict(cls=cls, fg=fg, bg=bg, total=cls + 0.5 * fg + 0.25 * bg)


def released_test_cams(model,
                       inputs,
                       labels,
                       tta=True,
                       merge='max',
                       weights=(0, 0.3, 0.3, 0.4),
                       normalize=False):
    """Released validation CAMs: per view (flip, then x factor on the
    normalised tensor), soft-max merged class maps, ReLU, per-class min-max
    at feature resolution, x label, upsample (align_corners=True),
    de-augment; mean over views; fuse 0.3 / 0.3 / 0.4 of stages 2-4 (the
    paper config: mean merge, stages 1-3 with weight 1, one view)."""
    views = [(f, s) for f in (False, True) for s in (0.9, 1.0, 1.1)] \
        if tta else [(False, 1.0)]
    per_stage = [[] for _ in range(4)]
    for flip, factor in views:
        x = inputs.flip(-1) if flip else inputs
        x = x * factor
        maps = ref_stage_maps(model, model.backbone(x), normalize)
        for s, m in enumerate(maps):
            c = ref_merge(m.flatten(2), merge).view(m.shape[0], -1,
                                                    *m.shape[2:])
            c = c.clamp(min=0)
            lo = c.amin((2, 3), keepdim=True)
            hi = c.amax((2, 3), keepdim=True)
            c = (c - lo) / (hi - lo + 1e-6) * labels[:, :, None, None]
            c = F.interpolate(
                c, (SIZE, SIZE), mode='bilinear', align_corners=True)
            per_stage[s].append(c.flip(-1) if flip else c)
    mean = [torch.stack(v).mean(0) for v in per_stage]
    return sum(w * m for w, m in zip(weights, mean))


def gradient_difference(model, ours, theirs):
    """Largest |difference| between the gradients of two losses over the
    model's trainable parameters, and how many get a non-zero gradient."""
    params = [p for p in model.parameters() if p.requires_grad]
    grads_a = torch.autograd.grad(ours, params, allow_unused=True)
    grads_b = torch.autograd.grad(theirs, params, allow_unused=True)
    worst, nonzero = 0., 0
    for a, b, p in zip(grads_a, grads_b, params):
        a = torch.zeros_like(p) if a is None else a
        b = torch.zeros_like(p) if b is None else b
        worst = max(worst, float((a - b).abs().max()))
        nonzero += int(b.abs().max() > 0)
    return worst, nonzero


# -- tests -----------------------------------------------------------------
def test_released_training_step_matches_the_reference():
    cfg, model = build(RELEASED)
    inputs, labels, samples = batch()
    ref = released_reference(model, inputs, labels)
    assert len(ref['pairs']) > 3  # the batch exercises the FG/BG path
    out = model.head(model.backbone(inputs), merge='mean')
    for ours, theirs in zip(out['sub_scores'], ref['scores']):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-9)
    assert torch.equal(model.select_pairs(out, labels), ref['pairs'])
    losses = model.loss(inputs, samples)
    torch.testing.assert_close(
        losses['loss_cls'], ref['cls'], rtol=0, atol=1e-9)
    torch.testing.assert_close(
        losses['loss_fg'], 0.1 * ref['fg'], rtol=0, atol=1e-9)
    torch.testing.assert_close(
        losses['loss_bg'], 0.1 * ref['bg'], rtol=0, atol=1e-9)
    torch.testing.assert_close(
        losses['loss_cam_reg'], 0.1 * ref['reg'], rtol=0, atol=1e-12)
    # gradients of the whole loss, head and backbone
    worst, nonzero = gradient_difference(model, sum(losses.values()),
                                         ref['total'])
    assert worst < 1e-9 and nonzero > 20


def test_released_test_time_cams_and_pseudo_labels_match_the_reference():
    cfg, model = build(RELEASED)
    model.eval()
    inputs, labels, samples = batch(1)
    with torch.no_grad():
        ref = released_test_cams(model, inputs, labels)
        ours = model.predict(inputs, samples)
    cams = torch.stack([s.seg_logits.data for s in ours])
    torch.testing.assert_close(cams, ref, rtol=0, atol=1e-9)
    pred = torch.stack([s.pred_sem_seg.data[0] for s in ours])
    assert torch.equal(pred, ref.argmax(1))
    assert int(pred.max()) < 4  # never background
    # pseudo labels: the same without test-time augmentation, from the model
    # the pseudo-label runner builds (without_test_views of the config)
    cfg = pseudo_label_runner_config(cfg, 'ckpt.pth', 'out', [0])
    assert list(cfg.model.tta_flips) == [False]
    assert list(cfg.model.tta_intensities) == [1.0]
    plain = MODELS.build(cfg.model).double().eval()
    plain.load_state_dict(model.state_dict())
    model = plain
    with torch.no_grad():
        ref = released_test_cams(model, inputs, labels, tta=False)
        ours = model.predict(inputs, batch(1)[2])
    torch.testing.assert_close(
        torch.stack([s.seg_logits.data for s in ours]), ref, rtol=0, atol=1e-9)


def test_paper_training_step_matches_the_equations():
    cfg, model = build(PAPER)
    inputs, labels, samples = batch(2)
    ref = paper_reference(model, inputs, labels, cfg.model.data_preprocessor)
    losses = model.loss(inputs, samples)
    torch.testing.assert_close(
        losses['loss_cls'], ref['cls'], rtol=0, atol=1e-9)
    torch.testing.assert_close(
        losses['loss_fg'], 0.5 * ref['fg'], rtol=0, atol=1e-9)
    torch.testing.assert_close(
        losses['loss_bg'], 0.25 * ref['bg'], rtol=0, atol=1e-9)
    assert float(losses['loss_cam_reg'].detach()) == 0
    # test-time CAMs of the paper config
    model.eval()
    with torch.no_grad():
        ref_cams = released_test_cams(
            model,
            inputs,
            labels,
            tta=False,
            merge='mean',
            weights=(1, 1, 1, 0),
            normalize=True)
        ours = model.predict(inputs, batch(2)[2])
    torch.testing.assert_close(
        torch.stack([s.seg_logits.data for s in ours]),
        ref_cams,
        rtol=0,
        atol=1e-9)
    model.train()
    worst, nonzero = gradient_difference(model, sum(losses.values()),
                                         ref['total'])
    assert worst < 1e-9 and nonzero > 10
    # stage 4 is not supervised and feeds nothing in the paper
    stage4 = model.head.projections[3][0].weight
    grad = torch.autograd.grad(
        sum(model.loss(inputs, samples).values()), stage4,
        allow_unused=True)[0]
    assert grad is None or grad.abs().max() == 0


def test_released_and_paper_heads_differ_only_where_documented():
    """Scaled dot product (released) vs cosine (paper) on a hand case."""
    from mmseg_pbip.models import PrototypeSimHead
    for normalize in (False, True):
        head = PrototypeSimHead(
            in_channels=[2],
            num_classes=2,
            prototype_dim=2,
            hidden_ratio=1.,
            normalize_prototypes=normalize)
        mlp = head.projections[0]
        with torch.no_grad():  # identity MLP on non-negative prototypes
            mlp[0].weight.copy_(torch.eye(2))
            mlp[2].weight.copy_(torch.eye(2))
            mlp[0].bias.zero_()
            mlp[2].bias.zero_()
            head.logit_scale.fill_(2.)
        head.set_prototypes(torch.tensor([[3., 4.], [0., 2.]]), [1, 1])
        feat = torch.tensor([1., 1.]).view(1, 2, 1, 1) * 5
        sub = head([feat])['sub_cams'][0].flatten()
        u = 1 / math.sqrt(2)
        if normalize:
            expected = [2 * (3 * u + 4 * u) / 5, 2 * (2 * u) / 2]
        else:
            expected = [2 * (3 * u + 4 * u), 2 * (2 * u)]
        assert sub.tolist() == pytest.approx(expected, abs=1e-6)


def test_class_scores_pool_then_merge():
    """Class scores = the soft maximum of the pooled subclass scores, not the
    pooled soft-max map (they differ)."""
    from mmseg_pbip.models import PrototypeSimHead
    head = PrototypeSimHead(
        in_channels=[2], num_classes=1, prototype_dim=2, hidden_ratio=1.)
    with torch.no_grad():
        for layer in (head.projections[0][0], head.projections[0][2]):
            layer.weight.copy_(torch.eye(2))
            layer.bias.zero_()
        head.logit_scale.fill_(1.)
    head.set_prototypes(torch.tensor([[1., 0.], [0., 1.]]), [2])
    feat = torch.tensor([[1., 0.], [0., 1.]]).T.reshape(1, 2, 1, 2)
    out = head([feat], merge='max')
    # two pixels, subclass maps (1, 0) and (0, 1): pooled (0.5, 0.5)
    assert out['cls_scores'][0].item() == pytest.approx(0.5)
    soft = (math.exp(1) * 1 + 1 * 0) / (math.exp(1) + 1)
    assert out['cams'][0].flatten().tolist() == pytest.approx([soft, soft])


def test_released_threshold_and_fg_bg_images_by_hand():
    """Threshold over all maps of the image; stretch before the mask."""
    from mmseg_pbip.models import ImgMatchLoss
    loss = ImgMatchLoss()  # released defaults
    # one image, two 1x2 maps; the second has the image's maximum (4)
    cams = torch.tensor([[[[1., 3.]], [[4., -2.]]]])
    x = torch.tensor([[[[2., 5.]], [[1., 1.]], [[-1., 3.]]]])
    fg, bg = loss.masked_images(x, cams, torch.tensor([[0, 0]]))
    # map 0 = (1, 3); threshold 0.5 * 4 = 2 -> b = (0, 1)
    # M * X per channel: (2, 15), (1, 3), (-1, 9) -> stretched (0, 1) each
    assert fg[0, :, 0].tolist() == [[0., 1.]] * 3
    # (1 - M) * X: (0, -10), (0, -2), (0, -6) -> (1, 0); x (1 - b) = (1, 0)
    assert bg[0, :, 0].flatten().tolist() == pytest.approx(
        [1., 0.] * 3, abs=1e-6)
    # the pair's own-map rule would threshold at 1.5: b = (0, 1) too, so use
    # map 1: image rule 2 -> b = (1, 0); own-map rule (max 4) also 2. Make
    # the difference visible with a map whose own maximum is lower:
    cams = torch.tensor([[[[1., 1.8]], [[4., -2.]]]])
    fg, _ = loss.masked_images(x, cams, torch.tensor([[0, 0]]))
    assert fg.abs().sum() == 0  # 1.8 < 2: nothing is foreground
    own = ImgMatchLoss(threshold_scope='map')
    fg, _ = own.masked_images(x, cams, torch.tensor([[0, 0]]))
    assert fg.abs().sum() > 0  # 1.8 >= 0.9


def test_paper_fg_bg_images_by_hand():
    from mmseg_pbip.models import ImgMatchLoss
    loss = ImgMatchLoss(
        threshold=0.15, cam_scaling='relu_max', minmax_before_mask=False)
    cams = torch.tensor([[[[2., 0.2]], [[-3., 1.]]]])
    x = torch.tensor([[[[0.5, 1.]]] * 3])
    fg, bg = loss.masked_images(x, cams, torch.tensor([[0, 0], [0, 1]]))
    peak = 2 + 1e-5
    m0 = [2 / peak, 0.2 / peak]  # b = (1, 0): 0.1 < 0.15
    m1 = [0., 1 / peak]  # ReLU'd; b = (0, 1)
    exp_fg0 = [0.5 * m0[0], 0.] * 3
    exp_bg0 = [0., 1 - m0[1]] * 3
    exp_fg1 = [0., m1[1]] * 3
    exp_bg1 = [0.5 * (1 - m1[0]), 0.] * 3
    assert fg[0].flatten().tolist() == pytest.approx(exp_fg0, abs=1e-6)
    assert bg[0].flatten().tolist() == pytest.approx(exp_bg0, abs=1e-6)
    assert fg[1].flatten().tolist() == pytest.approx(exp_fg1, abs=1e-6)
    assert bg[1].flatten().tolist() == pytest.approx(exp_bg1, abs=1e-6)


def test_infonce_and_paper_terms_by_hand():
    """Both contrasts on hand-made similarities, against closed forms."""
    from mmseg_pbip.models import ImgMatchLoss
    fg = torch.tensor([[1., 0., 2.], [0.5, 1.5, 0.]])
    bg = torch.tensor([[0., 1., 1.], [2., 0., 1.]])
    own = torch.tensor([[True, False, False], [False, True, False]])
    lf, lb = ImgMatchLoss.infonce(fg, bg, own)
    e = math.exp
    pos = e(1) + e(1.5)
    assert float(lf) == pytest.approx(
        -math.log(pos / (pos + e(0) + e(2) + e(0.5) + e(0))))
    pos = (e(1) + e(1)) / 2 + (e(2) + e(1)) / 2
    assert float(lb) == pytest.approx(-math.log(pos / (pos + e(0) + e(0))))
    # paper: own = class prototypes {0, 1} for pair 0, {2} for pair 1
    own = torch.tensor([[True, True, False], [False, False, True]])
    lf, lb = ImgMatchLoss.paper_terms(fg, bg, own)
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731
    assert float(lf) == pytest.approx(((sp(2 - 1)) + sp(2 - 0)) / 2)
    assert float(lb) == pytest.approx((sp(0.5 - 1) + sp(1 - 1)) / 2)


def test_spherical_kmeans_and_prototype_rules(tmp_path):
    """Released centroid vs paper N_K mean, and the released K-means steps, on
    hand-made unit features."""
    from mmseg_pbip.image_bank import spherical_kmeans
    rng = np.random.RandomState(3)
    a = rng.normal([4, 0, 0], 0.5, (6, 3))
    b = rng.normal([0, 4, 1], 0.5, (5, 3))
    unit = np.concatenate([a, b]).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    labels, centres = spherical_kmeans(unit, 2, seed=42)
    groups = [set(range(6)), set(range(6, 11))]
    assert {frozenset(np.flatnonzero(labels == j)) for j in range(2)} == \
        {frozenset(g) for g in groups}
    for j in range(2):
        members = unit[labels == j]
        mean = members.sum(0) / len(members)
        np.testing.assert_allclose(
            centres[j], mean / np.linalg.norm(mean), atol=1e-6)
    # one step from the released initial draw (seed 42) when max_iter=1:
    # the centres are the normalised means of the first assignment
    init = unit[np.random.RandomState(42).choice(len(unit), 2, replace=False)]
    first = np.array([int(np.argmax([u @ c for c in init])) for u in unit])
    labels, centres = spherical_kmeans(unit, 2, seed=42, max_iter=1)
    assert labels.tolist() == first.tolist()
    for j in range(2):
        mean = unit[first == j].mean(0)
        np.testing.assert_allclose(
            centres[j], mean / np.linalg.norm(mean), atol=1e-6)


def test_bank_builder_rules(tmp_path):
    """The bank's prototypes under both rules, from a real encoder run on PNG
    files, computed here by hand."""
    from PIL import Image

    from mmseg_pbip.image_bank import (BankImageReader, build_image_bank,
                                       spherical_kmeans)

    class MeanColour(torch.nn.Module):
        out_channels = 3

        def __init__(self):
            super().__init__()
            self.register_buffer('dummy', torch.zeros(1))

        def forward(self, x):
            return x.mean((2, 3))

    rng = np.random.RandomState(0)
    paths, feats = [], []
    for i in range(7):
        colour = rng.randint(20, 200, 3).astype(np.uint8)
        img = np.broadcast_to(colour, (8, 8, 3)).copy()
        path = str(tmp_path / f'p{i}.png')
        Image.fromarray(img).save(path)
        paths.append(path)
        feats.append(colour[::-1].astype(np.float32))  # BGR, no stretch
    labels = np.zeros((7, 1), int)
    labels[:, 0] = 1
    reader = BankImageReader(
        'inputs',
        data_preprocessor=dict(
            type='SegDataPreProcessor', mean=[0, 0, 0], std=[1, 1, 1]))
    feats = np.stack(feats)
    unit = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    assigned, centres = spherical_kmeans(unit, 2, seed=42)
    bank = build_image_bank(
        paths,
        labels, ['A'],
        MeanColour(),
        k_per_class=2,
        reader=reader,
        prototype_rule='centroid',
        seed=42)
    np.testing.assert_allclose(bank['prototypes'].numpy(), centres, atol=1e-6)
    bank = build_image_bank(
        paths,
        labels, ['A'],
        MeanColour(),
        k_per_class=2,
        n_per_cluster=2,
        reader=reader,
        prototype_rule='nearest_mean',
        seed=42)
    for j in range(2):
        own = np.flatnonzero(assigned == j)
        sims = [float(unit[i] @ centres[j]) for i in own]
        nearest = [own[i] for i in np.argsort(sims)[::-1][:2]]
        np.testing.assert_allclose(
            bank['prototypes'][j].numpy(), unit[nearest].mean(0), atol=1e-6)


def test_released_bank_reader(tmp_path):
    """BGR, histology-normalised, flipped / rotated, stretched as a whole."""
    from PIL import Image

    from mmseg_pbip.image_bank import BankImageReader, bank_pipeline
    rgb = np.random.RandomState(1).randint(0, 255, (6, 6, 3)).astype(np.uint8)
    path = str(tmp_path / 'a.png')
    Image.fromarray(rgb).save(path)
    mean, std = [170., 120., 180.], [44., 57., 50.]
    pre = dict(type='SegDataPreProcessor', mean=mean, std=std)
    load = dict(type='LoadHistoImageFromFile')
    plain = BankImageReader('inputs', bank_pipeline(load), pre, True)(path)
    bgr = rgb[..., ::-1].astype(np.float64)
    norm = (bgr - np.array(mean)) / np.array(std)
    expected = (norm - norm.min()) / (norm.max() - norm.min() + 1e-8)
    np.testing.assert_allclose(plain, expected.transpose(2, 0, 1), atol=1e-5)
    # augmentation: a flip / rotation of the same values, fixed per file
    aug = BankImageReader('inputs', bank_pipeline(load, True), pre, True)
    views = {tuple(np.round(aug(path), 5).ravel()) for _ in range(3)}
    assert len(views) == 1
    a = aug(path)
    candidates = []
    for k in range(4):
        for flip in (False, True):
            v = np.rot90(expected, k) if not flip else np.rot90(
                expected[:, ::-1], k)
            for vflip in (False, True):
                w = v[::-1] if vflip else v
                candidates.append(w.transpose(2, 0, 1))
    assert any(np.allclose(a, c, atol=1e-5) for c in candidates)


def test_released_bank_augmentation_draws():
    """The bank's flips and rotation draw as the released albumentations
    pipeline (HorizontalFlip, VerticalFlip, RandomRotate90, each p=0.5; k
    uniform in 0-3 when the rotation applies): over many file names each flip
    has frequency 1/2, k = 0 has 5/8, k = 1, 2, 3 have 1/8 each."""
    from mmseg_pbip.datasets.transforms import SeededFlipRotate90
    flips = SeededFlipRotate90(seed=42)
    n = 20000
    draws = np.array([flips.draw(f'/x/patch_{i}.png') for i in range(n)])
    expected = np.array([0.5, 0.5, 5 / 8, 1 / 8, 1 / 8, 1 / 8])
    freq = np.concatenate(
        [draws[:, :2].mean(0),
         np.bincount(draws[:, 2], minlength=4) / n])
    tol = 5 * np.sqrt(expected * (1 - expected) / n)
    assert np.all(np.abs(freq - expected) < tol), (freq, expected)
    # fixed per file name, whatever the folder
    assert flips.draw('/a/p.png') == flips.draw('p.png')


def test_released_input_is_bgr_with_the_released_statistics(tmp_path):
    """The data preprocessor of the released config keeps OpenCV's BGR and
    normalises with the released mean / std in that order."""
    cfg = Config.fromfile(RELEASED)
    pre = MODELS.build(cfg.model.data_preprocessor)
    bgr = torch.randint(0, 256, (3, 4, 4), dtype=torch.uint8)
    out = pre(dict(inputs=[bgr], data_samples=[SegDataSample()]),
              False)['inputs'][0, :, :4, :4]
    mean = [0.66791496, 0.47791372, 0.70623304]
    std = [0.1736589, 0.22564577, 0.19820057]
    for c in range(3):
        expected = (bgr[c].double() / 255 - mean[c]) / std[c]
        torch.testing.assert_close(
            out[c].double(), expected, rtol=0, atol=1e-5)


# the schedule is walked alone, without optimiser steps
def schedule_of(config, num_train, tmp_path):
    """The optimiser and learning-rate schedulers MMEngine's Runner builds for
    ``config`` on a training split of ``num_train`` patches."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Tiny(BaseModel):

        def __init__(self):
            super().__init__()
            self.layers = torch.nn.Sequential(
                torch.nn.Linear(2, 2), torch.nn.LayerNorm(2))

        def forward(self, *args, **kwargs):
            return {}

    cfg = Config.fromfile(config)
    loader = torch.utils.data.DataLoader(
        list(range(num_train)),
        batch_size=cfg.train_dataloader.batch_size,
        shuffle=True)
    runner = Runner(
        model=Tiny(),
        work_dir=str(tmp_path),
        train_dataloader=loader,
        train_cfg=cfg.train_cfg,
        optim_wrapper=cfg.optim_wrapper,
        param_scheduler=cfg.param_scheduler,
        default_scope='mmseg')
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.param_schedulers = runner.build_param_scheduler(
        runner.param_schedulers)
    return cfg, runner


@pytest.mark.filterwarnings(
    r'ignore:Detected call of .scheduler.step\(\). before')
def test_released_optimiser_and_schedule(tmp_path):
    """AdamW eps 1e-8, weight decay on every parameter, poly power 1, no.

    warm-up, 8 epochs of BCSS-WSSS's 23,422 patches at batch 10: lr_t = lr_0
    (1 - t / T), T = 8 x ceil(23,422 / 10); the paper's config 10 epochs.
    """
    cfg, runner = schedule_of(RELEASED, 23422, tmp_path / 'released')
    opt = runner.optim_wrapper.optimizer
    assert type(opt).__name__ == 'AdamW'
    assert len(opt.param_groups) == 1
    group = opt.param_groups[0]
    assert group['eps'] == 1e-8 and group['weight_decay'] == 1e-3
    assert len(group['params']) == 4  # biases and norms decay too
    assert cfg.train_cfg.type == 'EpochBasedTrainLoop'
    assert runner.train_loop.max_epochs == 8
    total = 8 * math.ceil(23422 / 10)
    assert runner.train_loop.max_iters == total
    [sched] = runner.param_schedulers
    for t in range(total):  # the learning rate of iteration t
        if t % 997 == 0 or t > total - 3:
            assert group['lr'] == pytest.approx(
                5e-5 * (1 - t / total), rel=1e-6, abs=1e-15)
        sched.step()
    paper, runner = schedule_of(PAPER, 23422, tmp_path / 'paper')
    group = runner.optim_wrapper.optimizer.param_groups[0]
    assert group['lr'] == 1e-5 and group['weight_decay'] == 0.003
    assert runner.train_loop.max_iters == 10 * math.ceil(23422 / 10)
    assert runner.param_schedulers[0].total_iters == 10 * math.ceil(23422 / 10)


@pytest.mark.filterwarnings(
    r'ignore:Detected call of .scheduler.step\(\). before')
def test_pscl_and_demo_schedules(tmp_path):
    """PSCL: 5 epochs, MMEngine's PolyLR (lr_0 (1 - t / (T - 1)), 0 at the
    last iteration); the PBIP demo: 150 iterations of the released decay."""
    cfg, runner = schedule_of(
        osp.join(REPO, 'configs', 'pscl',
                 'pscl_swin-t_1xb10-5e_bcss-wsss-224x224.py'), 23422,
        tmp_path / 'pscl')
    total = 5 * math.ceil(23422 / 10)
    assert runner.train_loop.max_iters == total
    group = runner.optim_wrapper.optimizer.param_groups[0]
    assert group['lr'] == 1e-4 and group['weight_decay'] == 0.01
    [sched] = runner.param_schedulers
    for t in range(total):
        if t % 1009 == 0 or t > total - 3:
            assert group['lr'] == pytest.approx(
                1e-4 * (1 - t / (total - 1)), rel=1e-6, abs=1e-15)
        sched.step()
    cfg, runner = schedule_of(
        osp.join(REPO, 'configs', 'pbip',
                 'pbip_mit-b1_1xb8-150iters_demo-224x224.py'), 240,
        tmp_path / 'demo')
    group = runner.optim_wrapper.optimizer.param_groups[0]
    assert runner.train_loop.max_iters == 150
    assert group['weight_decay'] == 1e-3
    [sched] = runner.param_schedulers
    for t in range(150):
        assert group['lr'] == pytest.approx(
            1e-3 * (1 - t / 150), rel=1e-6, abs=1e-15)
        sched.step()


def test_nvlabs_layernorm_eps():
    """Patch-embedding and spatial-reduction norms at 1e-5, the rest 1e-6, and
    the choice changes the features."""
    cfg, model = build(RELEASED)
    eps = {}
    for name, mod in model.backbone.named_modules():
        if isinstance(mod, torch.nn.LayerNorm):
            eps[name] = mod.eps
    patch = {n for n in eps if n.endswith('.0.norm')}
    sr = {n for n in eps if n.endswith('attn.norm')}
    assert len(patch) == 4 and len(sr) == 3  # stage 4 has sr_ratio 1
    for name, value in eps.items():
        assert value == (1e-5 if name in patch | sr else 1e-6), name
    x = batch()[0]
    ref = model.backbone(x)
    for name in patch | sr:
        model.backbone.get_submodule(name).eps = 1e-6
    assert (model.backbone(x)[3] - ref[3]).abs().max() > 0


def test_released_config_keys():
    """Every released row is set in the config, and the opt-in extras are off
    (white-glass background, TTA on pseudo labels, present-only argmax, true
    cosine)."""
    cfg = Config.fromfile(RELEASED)
    m = cfg.model
    assert m.head.normalize_prototypes is False
    assert m.head.logit_scale == pytest.approx(1 / 0.07)
    assert m.white_threshold is None and m.argmax_present_only is False
    assert cfg.pseudo_label_tta is False
    assert m.match_loss.threshold == 0.5 and m.match_loss.temperature == 0.07
    assert m.cls_loss.stage_weights == (0., 0.1, 1., 1.)
    assert m.image_encoder.normalize is False
    hook = cfg.custom_hooks[1]
    assert (hook.kmeans, hook.prototype_rule, hook.seed, hook.input_space,
            hook.augment, hook.stretch) == ('spherical', 'centroid', 42,
                                            'inputs', True, True)
    assert cfg.default_hooks.checkpoint.save_best == 'mIoU'
    assert cfg.val_evaluator.background_mode == 'count'


def test_best_checkpoint_is_the_runs_best(tmp_path):
    """The pseudo-label tool's default checkpoint is the run's best."""
    from mmseg_pbip.apis import best_checkpoint
    run_dir = tmp_path / 'run'
    run_dir.mkdir()
    with pytest.raises(FileNotFoundError, match='no best-validation'):
        best_checkpoint(str(run_dir))
    for name in ('iter_4.pth', 'best_mIoU_iter_2.pth'):
        (run_dir / name).write_bytes(b'')
    assert best_checkpoint(str(run_dir)).endswith('best_mIoU_iter_2.pth')


@pytest.mark.slow
def test_released_config_full_size_fp32(monkeypatch):
    """The released config at its real size (MiT-b1, Swin-T, 224 px, K=3),
    random weights, float32: losses, gradients and test-time CAMs against the
    reference within 1e-5 (the independent check asks 1e-4)."""
    monkeypatch.setitem(globals(), 'SIZE', 224)
    monkeypatch.setitem(globals(), 'K_LIST', [3, 3, 3, 3])
    cfg = Config.fromfile(RELEASED)
    cfg.model.backbone.update(init_cfg=None, drop_path_rate=0.)
    cfg.model.image_encoder.update(
        swin_pretrained=None, allow_random_init=True)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        for name, p in model.image_encoder.named_parameters():
            if name.endswith('bias'):
                p.normal_(0, 0.02)
    model.head.set_prototypes(F.normalize(torch.randn(12, 512), dim=1), K_LIST)
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(4, 3, SIZE, SIZE, generator=gen)
    labels = torch.tensor([[1., 1, 0, 1], [0, 0, 1, 0], [1, 0, 1, 1],
                           [0, 1, 1, 0]])

    def samples():
        out = []
        for label in labels:
            s = SegDataSample(
                metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE)))
            s.gt_cls_label = label
            out.append(s)
        return out

    ref = released_reference(model, inputs, labels)
    losses = model.loss(inputs, samples())
    diffs = {
        'loss_cls': losses['loss_cls'] - ref['cls'],
        'loss_fg': losses['loss_fg'] - 0.1 * ref['fg'],
        'loss_bg': losses['loss_bg'] - 0.1 * ref['bg'],
        'loss_cam_reg': losses['loss_cam_reg'] - 0.1 * ref['reg'],
    }
    grad, _ = gradient_difference(model, sum(losses.values()), ref['total'])
    model.eval()
    with torch.no_grad():
        ref_cams = released_test_cams(model, inputs, labels)
        pred = model.predict(inputs, samples())
    cams = torch.stack([s.seg_logits.data for s in pred])
    masks = torch.stack([s.pred_sem_seg.data[0] for s in pred])
    cam_diff = float((cams - ref_cams).abs().max())
    diffs = {k: float(v.detach().abs()) for k, v in diffs.items()}
    print(f"pairs {len(ref['pairs'])}; |diff| " +
          ', '.join(f'{k} {v:.2e}' for k, v in diffs.items()) +
          f', gradients {grad:.2e}, fused test CAMs {cam_diff:.2e}; '
          f'pseudo-mask pixels differing '
          f'{float((masks != ref_cams.argmax(1)).float().mean()):.4%}')
    assert len(ref['pairs']) > 4
    assert all(v < 1e-5 for v in diffs.values())
    assert grad < 1e-5 and cam_diff < 1e-5
    assert torch.equal(masks, ref_cams.argmax(1))
