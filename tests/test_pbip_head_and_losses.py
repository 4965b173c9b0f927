"""PrototypeSimHead shapes and merges; losses against direct formulas."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmseg_pbip.models import ImgMatchLoss, MultiStageClsLoss, PrototypeSimHead


def make_head(k=(2, 1, 3), dim=6, channels=(4, 8)):
    torch.manual_seed(0)
    head = PrototypeSimHead(
        in_channels=channels, num_classes=len(k), prototype_dim=dim)
    head.init_weights()
    head.set_prototypes(torch.randn(sum(k), dim), k)
    return head


def test_head_shapes():
    head = make_head()
    feats = [torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)]
    out = head(feats)
    assert [t.shape for t in out['sub_cams']] == [(2, 6, 8, 8), (2, 6, 4, 4)]
    assert [t.shape for t in out['cams']] == [(2, 3, 8, 8), (2, 3, 4, 4)]
    assert out['cls_scores'][1].shape == (2, 3)
    assert out['sub_scores'][0].shape == (2, 6)
    # released head: a dot product with the projected prototype, so its
    # gain scales the scores; the paper's cosine ignores it
    with torch.no_grad():
        head.projections[0][2].weight.mul_(2)
        head.projections[0][2].bias.mul_(2)
    doubled = head(feats)['sub_cams'][0]
    assert torch.allclose(doubled, 2 * out['sub_cams'][0], atol=1e-6)
    head.normalize_prototypes = True
    cosine = head(feats)['sub_cams'][0]
    assert cosine.abs().max() <= 1 / 0.07 + 1e-4
    with torch.no_grad():
        head.projections[0][2].weight.mul_(3)
        head.projections[0][2].bias.mul_(3)
    assert torch.allclose(head(feats)['sub_cams'][0], cosine, atol=1e-5)
    # projections: d -> d/2 -> C_i, one per stage
    assert head.projections[1][0].out_features == 3
    assert head.projections[1][2].out_features == 8


def test_merge_rules():
    head = make_head(k=(2, 1, 3))
    sub = torch.tensor([[1., 3., 5., 0., 2., 4.]])
    assert torch.allclose(
        head.merge(sub, 'mean'), torch.tensor([[2., 5., 2.]]))
    assert torch.allclose(
        head.merge(sub, 'hard_max'), torch.tensor([[3., 5., 4.]]))

    def soft(v):
        v = torch.tensor(v)
        return float((v.softmax(0) * v).sum())

    assert torch.allclose(
        head.merge(sub, 'max'),
        torch.tensor([[soft([1., 3.]), 5.,
                       soft([0., 2., 4.])]]))
    maps = sub[:, :, None, None].expand(1, 6, 2, 2)
    assert head.merge(maps, 'mean').shape == (1, 3, 2, 2)
    with pytest.raises(ValueError, match='merge'):
        head.merge(sub, 'median')


def test_prototypes_checked_and_restored_from_checkpoint():
    head = make_head(k=(2, 1, 3))
    with pytest.raises(ValueError, match='do not match'):
        head.set_prototypes(torch.zeros(5, 6), (2, 1, 3))
    with pytest.raises(ValueError, match='>= 1 prototype'):
        head.set_prototypes(torch.zeros(3, 6), (3, 0, 0))
    fresh = PrototypeSimHead(
        in_channels=(4, 8), num_classes=3, prototype_dim=6)
    assert not fresh.has_prototypes
    with pytest.raises(RuntimeError, match='no prototypes'):
        fresh([torch.zeros(1, 4, 2, 2), torch.zeros(1, 8, 1, 1)])
    fresh.load_state_dict(head.state_dict())
    assert torch.equal(fresh.prototypes, head.prototypes)
    assert fresh.k_per_class.tolist() == [2, 1, 3]


def test_multi_stage_cls_loss():
    scores = [torch.randn(2, 3) for _ in range(3)]
    labels = torch.tensor([[1., 0, 1], [0, 1, 0]])
    loss = MultiStageClsLoss(stage_weights=(0., 0.5, 2.))(scores, labels)
    ref = 0.5 * F.binary_cross_entropy_with_logits(scores[1], labels) + \
        2 * F.binary_cross_entropy_with_logits(scores[2], labels)
    assert torch.allclose(loss, ref)
    with pytest.raises(ValueError, match='stage weights'):
        MultiStageClsLoss(stage_weights=(1., ))(scores, labels)


def reference_contrast(feats, protos, positive, t, normalize_prototypes):
    """The released InfoNCE, written out with loops."""
    s_num = len(positive)
    if normalize_prototypes:
        cos = [[float(F.cosine_similarity(f, p, dim=0)) / t for p in protos]
               for f in feats]
    else:  # unit features, prototypes as stored
        cos = [[float(f @ p / f.norm()) / t for p in protos] for f in feats]
    fg_num = sum(math.exp(cos[i][positive[i]]) for i in range(s_num))
    fg_neg = sum(
        math.exp(cos[i][m]) for i in range(s_num) for m in range(len(protos))
        if m != positive[i])
    l_fg = -math.log(fg_num / (fg_num + fg_neg))
    bg = cos[s_num:]
    bg_num = sum(
        sum(
            math.exp(bg[i][m])
            for m in range(len(protos)) if m != positive[i]) /
        (len(protos) - 1) for i in range(s_num))
    bg_own = sum(math.exp(bg[i][positive[i]]) for i in range(s_num))
    l_bg = -math.log(bg_num / (bg_num + bg_own))
    return l_fg, l_bg


def contrast(loss, feats, protos, positive):
    sims = loss.similarities(feats, protos)
    own = F.one_hot(positive, protos.shape[0]).bool()
    n = len(positive)
    return loss.infonce(sims[:n], sims[n:], own)


@pytest.mark.parametrize('t', [0.07, 1.0])
@pytest.mark.parametrize('normalize', [False, True])
def test_contrast_matches_reference(t, normalize):
    torch.manual_seed(1)  # float64: e^(30) sums at temperature 0.07
    feats = torch.randn(6, 5, dtype=torch.float64)
    protos = torch.randn(4, 5, dtype=torch.float64)
    positive = torch.tensor([0, 3, 1])
    loss = ImgMatchLoss(temperature=t, normalize_prototypes=normalize)
    l_fg, l_bg = contrast(loss, feats, protos, positive)
    r_fg, r_bg = reference_contrast(feats, protos, positive.tolist(), t,
                                    normalize)
    assert l_fg.item() == pytest.approx(r_fg, rel=1e-4)
    assert l_bg.item() == pytest.approx(r_bg, rel=1e-4)


class Flatten(torch.nn.Module):
    out_channels = 3

    def forward(self, x):
        return x.mean((2, 3))


def test_masked_images_and_weights():
    loss = ImgMatchLoss(
        threshold=0.5, fg_weight=2., bg_weight=3., cam_reg_weight=0.)
    images = torch.rand(2, 3, 8, 8)
    cams = torch.zeros(2, 4, 2, 2)
    cams[1, 2, 0, 0] = 5.  # a blob in the top-left of image 1, subclass 2
    pairs = torch.tensor([[1, 2]])
    fg, bg = loss.masked_images(images, cams, pairs)
    assert fg.shape == bg.shape == (1, 3, 8, 8)
    assert fg[0, :, -1, -1].abs().sum() == 0  # far from the blob: not FG
    assert fg.amax() <= 1 and fg.amin() >= 0  # min-max per channel
    cams.requires_grad_(True)
    protos = torch.randn(4, 3)
    out = loss(images, cams, pairs, Flatten(), protos)
    fgl, bgl = contrast(loss,
                        Flatten()(torch.cat([fg, bg])), protos, pairs[:, 1])
    assert torch.allclose(out['loss_fg'], 2 * fgl)
    assert torch.allclose(out['loss_bg'], 3 * bgl)
    sum(out.values()).backward()
    assert cams.grad is not None and torch.isfinite(cams.grad).all()


def test_no_pair_selected_gives_zero_and_finite_grad():
    cams = torch.randn(2, 4, 2, 2, requires_grad=True)
    out = ImgMatchLoss()(torch.rand(2, 3, 8, 8), cams,
                         torch.zeros(0, 2, dtype=torch.long), Flatten(),
                         torch.randn(4, 3))
    assert out['loss_fg'].item() == 0 and out['loss_bg'].item() == 0
    sum(out.values()).backward()
    assert torch.isfinite(cams.grad).all()


class _InfAtZeros(torch.autograd.Function):
    """Identity on ``[n, C, H, W]`` whose backward sends inf to the pixels that
    are 0 in every channel, as the LayerNorms of a randomly initialised Swin do
    to all-zero tokens."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        (x, ) = ctx.saved_tensors
        return g.masked_fill((x == 0).all(1, keepdim=True), float('inf'))


class OverflowingFlatten(Flatten):

    def forward(self, x):
        return super().forward(_InfAtZeros.apply(x))


@pytest.mark.parametrize('minmax_before_mask', [True, False])
def test_encoder_overflow_at_masked_pixels_does_not_reach_the_cams(
        minmax_before_mask):
    """The FG / BG images are 0 outside their masks; whatever gradient the
    frozen encoder returns there (here inf) must not reach the CAMs, whose.

    gradient is the one an encoder without the overflow gives, bit for bit.
    Multiplying by the binary mask (inf * 0 = NaN) fails this.
    """
    loss = ImgMatchLoss(minmax_before_mask=minmax_before_mask)
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 16, 16, generator=gen) + 0.1
    cams = torch.randn(2, 4, 4, 4, generator=gen)
    pairs = torch.tensor([[0, 1], [1, 2], [1, 3]])
    protos = torch.randn(4, 3, generator=gen)
    fg, bg = loss.masked_images(images, cams, pairs)
    assert (fg == 0).any() and (bg == 0).any()  # masked pixels exist
    grads = []
    for encoder in (Flatten(), OverflowingFlatten()):
        c = cams.clone().requires_grad_(True)
        sum(loss(images, c, pairs, encoder, protos).values()).backward()
        grads.append(c.grad)
    assert torch.isfinite(grads[1]).all()
    assert torch.equal(grads[0], grads[1])
    # the mechanism the selection avoids: a product by the binary mask
    x = torch.rand(1, 3, 4, 4, requires_grad=True)
    keep = torch.rand(1, 1, 4, 4, generator=gen) > 0.5
    _InfAtZeros.apply(x * keep).sum().backward()
    assert x.grad[(~keep).expand_as(x)].isnan().all()
