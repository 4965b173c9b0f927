"""Pathology foundation models as encoders / backbones, their weight files and
the inspection tool."""
import copy
import functools
import json
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import MODELS
from utils import PBIP_DEMO, REPO, run, tiny_pbip_options

from mmseg_pbip.image_bank import load_image_bank
from mmseg_pbip.models import FoundationModelEncoder, FoundationViTBackbone
from mmseg_pbip.models.utils import (FOUNDATION_MODELS, build_foundation_model,
                                     foundation_spec)

TOOL = osp.join(REPO, 'tools', 'model_converters',
                'inspect_foundation_model.py')

# Tiny widths of every architecture (same layer types as the real models).
TINY = {
    'uni':
    dict(embed_dim=32, depth=4, num_heads=2),
    'uni2-h':
    dict(embed_dim=48, depth=4, num_heads=2),
    'virchow2':
    dict(embed_dim=32, depth=4, num_heads=2),
    # H-optimus has a fixed input size (dynamic_img_size=False, model card)
    'h-optimus-0':
    dict(embed_dim=48, depth=4, num_heads=2, img_size=56),
    'h-optimus-1':
    dict(embed_dim=48, depth=4, num_heads=2, img_size=56),
    'phikon':
    dict(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64),
    'phikon-v2':
    dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2),
    'conch':
    dict(width=32, layers=4, num_heads=2),
}
PATCH = {
    'uni': 16,
    'uni2-h': 14,
    'virchow2': 14,
    'h-optimus-0': 14,
    'h-optimus-1': 14,
    'phikon': 16,
    'phikon-v2': 16,
    'conch': 16
}
# Prefix tokens (class + registers) of each model card.
PREFIX = {
    'uni': 1,
    'uni2-h': 9,
    'virchow2': 5,
    'h-optimus-0': 5,
    'h-optimus-1': 5,
    'phikon': 1,
    'phikon-v2': 1,
    'conch': 1
}


def timm_vit_params(dim, depth, patch, grid, mlp_hidden, swiglu, regs,
                    pos_prefix, layer_scale):
    """Parameter count of a timm ViT (class token, no head), closed form."""
    patch_embed = 3 * patch * patch * dim + dim
    tokens = dim + regs * dim + (grid + pos_prefix) * dim
    mlp = (
        dim * mlp_hidden + mlp_hidden + mlp_hidden // 2 * dim +
        dim if swiglu else 2 * dim * mlp_hidden + mlp_hidden + dim)
    block = (4 * dim + 3 * dim * dim + 3 * dim + dim * dim + dim + mlp +
             (2 * dim if layer_scale else 0))
    return patch_embed + tokens + depth * block + 2 * dim


def hf_vit_params(dim, depth, patch, grid, hidden, dinov2):
    """Parameter count of transformers ViTModel (no pooler) / Dinov2Model."""
    embed = 3 * patch * patch * dim + dim + dim + (grid + 1) * dim
    if dinov2:
        embed += dim  # mask token
    block = 4 * dim + 4 * (dim * dim + dim) + 2 * dim * hidden + hidden + dim
    if dinov2:
        block += 2 * dim  # layer scales
    return embed + depth * block + 2 * dim


def conch_visual_params():
    """CONCH's vision tower: ViT-B/16 at 448 px + two attentional poolers."""
    trunk = timm_vit_params(768, 12, 16, 28 * 28, 3072, False, 0, 1, False)
    contrast = (512 + 512 * 512 + 2 * 512 * 768 + 3 * 512 + 512 * 512 + 512 +
                2 * 512 + 2 * 768)
    caption = (256 * 768 + 3 * 768 * 768 + 3 * 768 + 768 * 768 + 768 +
               2 * 768 + 2 * 768)
    return trunk + contrast + 2 * 512 + 512 * 512 + caption + 2 * 768


EXPECTED_PARAMS = {
    'uni': timm_vit_params(1024, 24, 16, 196, 4096, False, 0, 1, True),
    'uni2-h': timm_vit_params(1536, 24, 14, 256, 8192, True, 8, 0, True),
    'virchow2': timm_vit_params(1280, 32, 14, 256, 6832, True, 4, 5, True),
    'h-optimus-0': timm_vit_params(1536, 40, 14, 256, 8192, True, 4, 0, True),
    'h-optimus-1': timm_vit_params(1536, 40, 14, 256, 8192, True, 4, 0, True),
    'phikon': hf_vit_params(768, 12, 16, 196, 3072, False),
    'phikon-v2': hf_vit_params(1024, 24, 16, 196, 4096, True),
    'conch': conch_visual_params(),
}


@pytest.mark.parametrize('arch', sorted(FOUNDATION_MODELS))
def test_real_architectures_on_meta(arch):
    """Every model at its published size, built without allocating."""
    spec = foundation_spec(arch)
    with torch.device('meta'):
        model = build_foundation_model(spec)
    params = dict(model.named_parameters())
    assert all(p.is_meta for p in params.values())
    assert sum(p.numel() for p in params.values()) == EXPECTED_PARAMS[arch]
    if spec['library'] == 'timm':
        width, regs = spec['embed_dim'], PREFIX[arch] - 1
        assert model.num_prefix_tokens == PREFIX[arch]
        assert tuple(model.patch_embed.proj.weight.shape) == (width, 3,
                                                              PATCH[arch],
                                                              PATCH[arch])
        if regs:
            assert tuple(model.reg_token.shape) == (1, regs, width)
        assert len(model.blocks) == spec['depth']
    # published feature sizes (model cards)
    published = {
        'uni': 1024,
        'uni2-h': 1536,
        'virchow2': 2560,
        'h-optimus-0': 1536,
        'h-optimus-1': 1536,
        'phikon': 768,
        'phikon-v2': 1024,
        'conch': 512
    }
    assert spec['feature_dim'] == published[arch]


@pytest.mark.parametrize('arch', sorted(FOUNDATION_MODELS))
def test_real_backbones_on_meta(arch):
    """The backbone at published size: four evenly spaced blocks, the
    stack pruned after the deepest, output width = the ViT's."""
    spec = foundation_spec(arch)
    with torch.device('meta'):
        backbone = FoundationViTBackbone(arch, allow_random_init=True)
    depth = spec['depth']
    expected = [depth // 4 - 1, depth // 2 - 1, 3 * depth // 4 - 1, depth - 1]
    assert backbone.out_indices == expected
    assert backbone.embed_dims == spec['embed_dim']
    assert not any(p.requires_grad for p in backbone.parameters())


def test_published_sizes_in_millions():
    """The closed forms agree with the sizes the model cards state."""
    millions = {k: v / 1e6 for k, v in EXPECTED_PARAMS.items()}
    assert 300 < millions['uni'] < 305  # "ViT-L/16, 0.3B"
    assert 680 < millions['uni2-h'] < 682  # 681M
    assert 630 < millions['virchow2'] < 633  # 632M
    assert 1130 < millions['h-optimus-0'] < 1140  # 1.1B
    assert 85 < millions['phikon'] < 87  # ViT-B/16, 86M
    assert 300 < millions['phikon-v2'] < 305  # ViT-L/16


def tiny_encoder(arch, **kwargs):
    return FoundationModelEncoder(
        arch,
        allow_random_init=True,
        arch_overrides=TINY[arch],
        input_size=4 * PATCH[arch],
        **kwargs)


@pytest.mark.parametrize('arch', sorted(FOUNDATION_MODELS))
def test_tiny_encoders_forward(arch):
    enc = tiny_encoder(arch)
    assert not any(p.requires_grad for p in enc.parameters())
    enc.train()
    assert not enc.training
    images = torch.rand(2, 3, 48, 48, requires_grad=True)
    feats = enc(images)
    assert feats.shape == (2, enc.out_channels)
    # Gradients reach the image (the FG/BG loss trains the CAMs): the
    # directional derivative equals a central finite difference, in float64
    # (a random projection: a plain sum of LayerNorm outputs is constant).
    enc.double()
    gen = torch.Generator().manual_seed(0)
    # mid-grey images: a bicubic resize (clipped to [0, 1] as PIL clips)
    # stays inside the range, away from the kinks of the clip
    x = 0.25 + 0.5 * torch.rand(
        2, 3, 48, 48, dtype=torch.float64, generator=gen)
    proj = torch.randn(2, enc.out_channels, dtype=torch.float64, generator=gen)
    direction = torch.randn(x.shape, dtype=torch.float64, generator=gen)
    x.requires_grad_(True)
    (enc(x) * proj).sum().backward()
    analytic = (x.grad * direction).sum()
    eps = 1e-6
    with torch.no_grad():
        numeric = ((enc(x + eps * direction) * proj).sum() -
                   (enc(x - eps * direction) * proj).sum()) / (2 * eps)
    assert analytic.abs() > 1e-6
    assert torch.allclose(analytic, numeric, rtol=1e-4)
    spec = FOUNDATION_MODELS[arch]
    assert tuple(enc.mean.flatten().tolist()) == pytest.approx(spec['mean'])


def test_virchow2_pooling_is_class_plus_mean_patch():
    """Virchow2: [class token, mean of the patch tokens after the 4
    registers], as its model card computes it."""
    enc = tiny_encoder('virchow2')
    x = torch.rand(2, 3, 64, 64)
    pixels = enc.preprocess(x)  # 56 px
    tokens = enc.model.forward_features(pixels)  # [B, 1 + 4 + 16, C]
    assert tokens.shape[1] == 1 + 4 + 4 * 4
    expected = torch.cat([tokens[:, 0], tokens[:, 5:].mean(1)], -1)
    assert torch.allclose(enc(x), expected, atol=1e-6)
    assert enc.out_channels == 2 * 32


def test_conch_poolings():
    enc = tiny_encoder('conch')
    proj = tiny_encoder('conch', pooling='attn_pool_proj')
    x = torch.rand(2, 3, 64, 64)
    visual = enc.model
    pooled = visual.ln_contrast(
        visual.attn_pool_contrast(visual.trunk(enc.preprocess(x)))[:, 0])
    assert torch.allclose(enc(x), pooled, atol=1e-6)
    # the image-text space: projected and L2-normalised
    projected = torch.nn.functional.normalize(pooled @ visual.proj_contrast)
    assert torch.allclose(proj(x), projected, atol=1e-5)
    assert torch.allclose(proj(x).norm(dim=-1), torch.ones(2))
    assert enc.input_size == 64 and FOUNDATION_MODELS['conch'][
        'input_size'] == 448
    with pytest.raises(ValueError, match='does not apply'):
        tiny_encoder('uni', pooling='attn_pool')


@pytest.mark.parametrize('arch', sorted(FOUNDATION_MODELS))
def test_tiny_backbones(arch):
    """Four maps of the taken blocks, prefix tokens removed, equal to the
    blocks' tokens computed step by step."""
    backbone = FoundationViTBackbone(
        arch,
        allow_random_init=True,
        arch_overrides=TINY[arch],
        trainable_blocks=1)
    p = PATCH[arch]
    x = torch.rand(2, 3, 4 * p, 3 * p)
    maps = backbone(x)
    width = backbone.embed_dims
    assert [tuple(m.shape) for m in maps] == [(2, width, 4, 3)] * 4
    vit = backbone.vit
    if backbone.library == 'timm':
        tokens = vit.norm_pre(vit._pos_embed(vit.patch_embed(x)))
        outs = []
        for block in vit.blocks:
            tokens = block(tokens)
            outs.append(vit.norm(tokens))
    else:
        hidden = vit(
            pixel_values=x,
            output_hidden_states=True,
            **({
                'interpolate_pos_encoding': True
            } if arch == 'phikon' else {})).hidden_states
        outs = [vit.layernorm(h) for h in hidden[1:]]
    for m, i in zip(maps, backbone.out_indices):
        spatial = outs[i][:, PREFIX[arch]:]  # drop class + register tokens
        expected = spatial.reshape(2, 4, 3, width).permute(0, 3, 1, 2)
        assert torch.allclose(m, expected, atol=1e-5)
    trainable = {n for n, q in backbone.named_parameters() if q.requires_grad}
    assert trainable and all(
        ('blocks.3.' in n or 'layer.3.' in n or 'norm' in n)
        for n in trainable)
    backbone.train()
    blocks = vit.blocks if backbone.library == 'timm' else vit.encoder.layer
    assert blocks[3].training and not blocks[0].training
    sum((m * torch.randn_like(m)).sum() for m in maps).backward()
    assert all(q.grad is not None and q.grad.abs().sum() > 0
               for q in backbone.parameters() if q.requires_grad)
    with pytest.raises(ValueError, match='trainable_blocks'):
        FoundationViTBackbone(
            arch,
            allow_random_init=True,
            arch_overrides=TINY[arch],
            trainable_blocks=9)


def published_layout(arch, state):
    """A tiny model's weights under the key names of the published file."""
    if arch == 'conch':
        out = {f'visual.{k}': v for k, v in state.items()}
        out['text.token_embedding.weight'] = torch.zeros(4, 8)
        out['logit_scale'] = torch.ones(())
        return out
    if arch == 'virchow2':  # a DataParallel-saved copy
        return {f'module.{k}': v for k, v in state.items()}
    return state


@pytest.mark.parametrize('arch', ['uni', 'virchow2', 'h-optimus-0', 'conch'])
def test_checkpoint_in_published_layout(arch, tmp_path):
    src = tiny_encoder(arch)
    with torch.no_grad():  # weights unlike a fresh random init
        for p in src.model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    path = str(tmp_path / 'pytorch_model.bin')
    torch.save(published_layout(arch, src.model.state_dict()), path)
    dst = tiny_encoder(arch, checkpoint=str(tmp_path))  # the folder
    x = torch.rand(2, 3, 64, 64)
    assert torch.equal(dst(x), src(x))
    assert dst.weights_source == str(tmp_path)
    backbone = FoundationViTBackbone(
        arch, checkpoint=path, arch_overrides=TINY[arch])
    trunk = src.model.trunk if arch == 'conch' else src.model
    assert torch.equal(backbone.vit.patch_embed.proj.weight,
                       trunk.patch_embed.proj.weight)


def test_phikon_hugging_face_folder(tmp_path):
    src = tiny_encoder('phikon')
    src.model.save_pretrained(str(tmp_path / 'phikon'))
    assert osp.isfile(tmp_path / 'phikon' / 'model.safetensors')
    dst = tiny_encoder('phikon', checkpoint=str(tmp_path / 'phikon'))
    x = torch.rand(2, 3, 64, 64)
    assert torch.equal(dst(x), src(x))


def test_wrong_or_unsafe_weights(tmp_path):
    uni = tiny_encoder('uni')
    path = str(tmp_path / 'uni.pth')
    torch.save(uni.model.state_dict(), path)
    with pytest.raises(
            ValueError, match=r'uni\.pth.*does not match '
            r'uni2-h.*missing'):
        tiny_encoder('uni2-h', checkpoint=path)
    state = uni.model.state_dict()
    state['blocks.0.attn.qkv.weight'] = torch.zeros(5, 5)
    torch.save(state, path)
    with pytest.raises(ValueError, match='mismatched'):
        tiny_encoder('uni', checkpoint=path)
    torch.save({'weights': object()}, str(tmp_path / 'pickle.pth'))
    with pytest.raises(ValueError, match='safely'):
        tiny_encoder('uni', checkpoint=str(tmp_path / 'pickle.pth'))
    with pytest.raises(FileNotFoundError, match='MahmoodLab/UNI'):
        FoundationModelEncoder('uni')  # no weights, no random init
    with pytest.raises(FileNotFoundError, match='missing.bin'):
        FoundationModelEncoder('uni', checkpoint='missing.bin')


def full_size_file(arch, path, drop=()):
    """A checkpoint with the real key names and shapes that costs bytes, not
    gigabytes: every tensor is an expanded view of one value."""
    with torch.device('meta'):
        model = build_foundation_model(foundation_spec(arch))
    state = {
        k: torch.zeros(()).expand(v.shape)
        for k, v in model.state_dict().items() if k not in drop
    }
    torch.save(state, path)


def test_inspection_tool(tmp_path, capsys, monkeypatch):
    good = str(tmp_path / 'uni.bin')
    full_size_file('uni', good)
    code, out = run([TOOL, good], check=False)  # as a user runs it
    assert code == 0, out
    assert 'uni          MATCH' in out
    assert 'uni2-h       no match' in out
    assert "model.image_encoder.arch='uni'" in out
    assert 'model.head.in_channels=[1024] * 4' in out
    bad = str(tmp_path / 'bad.bin')
    full_size_file('virchow2', bad, drop=('reg_token', ))
    code, out = run_inspection_tool([bad, '--arch', 'virchow2'], capsys,
                                    monkeypatch)
    assert code == 1
    assert "closest: virchow2: 1 missing: ['reg_token']" in out
    both = str(tmp_path / 'hopt.bin')
    full_size_file('h-optimus-0', both)
    code, out = run_inspection_tool(
        [both, '--out', str(tmp_path / 'clean.pth')], capsys, monkeypatch)
    assert code == 0 and 'identical weights layout' in out
    clean = torch.load(str(tmp_path / 'clean.pth'), weights_only=True)
    assert tuple(clean['reg_token'].shape) == (1, 4, 1536)


def test_two_iterations_with_a_uni_style_encoder(demo_root, tmp_path):
    """Image bank + two PBIP iterations with a tiny UNI as prototype encoder,
    configured as configs/_base_/models/pbip_mit-b1_uni.py does."""
    work = str(tmp_path / 'work')
    cfg = Config.fromfile(PBIP_DEMO)
    options = {
        k: v
        for k, v in tiny_pbip_options(demo_root, work).items()
        if not k.startswith('model.image_encoder')
    }
    cfg.merge_from_dict(options)
    uni = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'models', 'pbip_mit-b1_uni.py'))
    cfg.model.image_encoder = dict(
        uni.model.image_encoder,
        checkpoint=None,
        allow_random_init=True,
        input_size=64,
        arch_overrides=TINY['uni'])
    cfg.model.head.prototype_dim = uni.model.head.prototype_dim
    cfg.model.match_loss.update(uni.model.match_loss)
    cfg.custom_hooks[1].update(
        input_space=uni.image_bank_hook.input_space,
        stretch=uni.image_bank_hook.stretch)
    runner = Runner.from_cfg(cfg)
    runner.train()
    bank = load_image_bank(osp.join(work, 'bank.pth'))
    k = sum(bank['k_per_class'])
    assert bank['prototypes'].shape == (k, 32)  # the tiny UNI's width
    assert bank['feature_dim'] == 32
    assert bank['encoder'].startswith('FoundationModelEncoder')
    assert bank['settings']['reader']['input_space'] == 'rgb01'
    assert bank['settings']['reader']['stretch'] is False
    model = runner.model
    assert model.head.prototypes.shape == (k, 32)
    assert model.match_loss.image_space == 'rgb01'
    assert osp.isfile(osp.join(work, 'iter_2.pth'))


@pytest.mark.parametrize('config', [
    'pbip_mit-b1_uni_1xb10-8e_bcss-wsss-224x224.py',
    'pbip_mit-b1_uni_1xb10-8e_luad-histoseg-224x224.py',
    'pbip_uni-vitl16_uni_1xb10-8e_bcss-wsss-224x224.py',
])
def test_foundation_configs_build_at_full_size(config):
    """The shipped configs' models at full size (weight files replaced by
    random init), and the clear error without the files."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'pbip', config))
    with pytest.raises(FileNotFoundError, match='pretrained/uni'):
        MODELS.build(cfg.model)
    cfg.model.image_encoder.update(checkpoint=None, allow_random_init=True)
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.pop('checkpoint', None)
    if cfg.model.backbone.type == 'FoundationViTBackbone':
        cfg.model.backbone.allow_random_init = True
    model = MODELS.build(cfg.model)
    assert model.image_encoder.out_channels == 1024
    assert model.head.prototype_dim == 1024
    if cfg.model.backbone.type == 'FoundationViTBackbone':
        assert model.backbone.out_indices == [5, 11, 17, 23]
        assert model.head.in_channels == [1024] * 4


def test_foundation_backbone_config_trains_the_head():
    """One loss + backward of the UNI-backbone config at a tiny width: the
    frozen ViT gets no gradient, the SIM head does, and the FG/BG images go
    through the (tiny) UNI encoder."""
    from mmseg.structures import SegDataSample
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'models',
                 'pbip_uni-vitl16_uni.py'))
    tiny = dict(TINY['uni'])
    cfg.model.backbone.update(
        checkpoint=None,
        allow_random_init=True,
        arch_overrides=tiny,
        out_indices=(0, 1, 2, 3))
    cfg.model.head.in_channels = [32] * 4
    cfg.model.image_encoder.update(
        checkpoint=None,
        allow_random_init=True,
        arch_overrides=tiny,
        input_size=64)
    model = MODELS.build(cfg.model)
    k = [2, 1, 1, 2]
    model.head.set_prototypes(torch.randn(sum(k), 32), k)
    inputs = torch.randn(2, 3, 64, 64)
    samples = []
    for label in ([1., 0., 1., 0.], [0., 1., 1., 1.]):
        sample = SegDataSample()
        sample.gt_cls_label = torch.tensor(label)
        samples.append(sample)
    model.train()
    losses = model.loss(inputs, samples)
    assert {'loss_cls', 'loss_fg', 'loss_bg'} <= set(losses)
    total = sum(v for k_, v in losses.items() if k_.startswith('loss'))
    total.backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is None for p in model.image_encoder.parameters())
    head_grads = [p.grad for p in model.head.parameters() if p.requires_grad]
    assert head_grads and all(g is not None for g in head_grads)


def test_missing_conch_package_is_named(monkeypatch):
    """Without conch-fork, CONCH fails with what to install."""
    import sys
    monkeypatch.setitem(sys.modules, 'conch', None)
    with pytest.raises(
            ImportError, match=r"'conch-fork'.*mmseg-pbip\[conch\]"):
        FoundationModelEncoder('conch', allow_random_init=True)


def test_uni_config_fg_bg_images_stay_in_the_encoder_input_space():
    """The foundation-model configs' FG/BG images are M * X and (1 - M) * X
    with M in [0, 1], so the encoder sees RGB in [0, 1] as on its card, and
    the binary mask is the released rule (>= 0.5 x the image's peak)."""
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'models', 'pbip_mit-b1_uni.py'))
    loss = MODELS.build(cfg.model.match_loss)
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 32, 32, generator=gen)
    cams = 20 * torch.randn(2, 6, 8, 8, generator=gen)  # raw: unbounded
    pairs = torch.tensor([[0, 1], [1, 4], [1, 5]])
    fg, bg = loss.masked_images(images, cams, pairs)
    for x in (fg, bg):
        assert x.min() >= 0 and x.max() <= 1
    up = torch.nn.functional.interpolate(
        cams, size=(32, 32), mode='bilinear', align_corners=True)
    for (i, k), f in zip(pairs.tolist(), fg):
        released = up[i, k] >= 0.5 * up[i].amax()
        assert torch.equal(
            f.sum(0) > 0, released & (images[i].sum(0) > 0)
            & (up[i, k] > 0))


@pytest.mark.parametrize('arch', ['uni', 'phikon', 'phikon-v2'])
def test_backbone_runs_only_the_blocks_it_needs(arch):
    backbone = FoundationViTBackbone(
        arch,
        allow_random_init=True,
        arch_overrides=TINY[arch],
        out_indices=(0, 1))
    blocks = backbone.vit.blocks if backbone.library == 'timm' \
        else backbone.vit.encoder.layer
    assert len(blocks) == 2
    p = PATCH[arch]
    maps = backbone(torch.rand(1, 3, 2 * p, 2 * p))
    assert [tuple(m.shape[-2:]) for m in maps] == [(2, 2), (2, 2)]


# ---------------------------------------------------------------------------
# Every model against its publication. The published arguments below are
# written from the authors' own code and cards, independently of the table
# in mmseg_pbip/models/utils/foundation_models.py: UNI's get_encoder, the
# UNI2-h card's timm_kwargs, Virchow2's config.json + card, Bioptimus'
# release parameters (H-optimus-0) and H-optimus-1's card, Owkin's
# config.json / preprocessor_config.json files, MahmoodLab's CONCH code.
# A twin is built from them with the authors' libraries, compared module by
# module (types, reprs, plain attributes, shapes), by its fresh random
# initialisation (init_values and layer scales only show there) and, with
# the same perturbed weights, output by output (activation, gate position,
# pooling, registers, statistics).
# ---------------------------------------------------------------------------

PHIKON_CONFIG_JSON = {  # owkin/phikon config.json (after Owkin's eps fix)
    'architectures': ['ViTModel'],
    'attention_probs_dropout_prob': 0.0,
    'encoder_stride': 16,
    'hidden_act': 'gelu',
    'hidden_dropout_prob': 0.0,
    'hidden_size': 768,
    'image_size': 224,
    'initializer_range': 0.02,
    'intermediate_size': 3072,
    'layer_norm_eps': 1e-6,
    'model_type': 'vit',
    'num_attention_heads': 12,
    'num_channels': 3,
    'num_hidden_layers': 12,
    'patch_size': 16,
    'qkv_bias': True,
    'torch_dtype': 'float32',
}
PHIKON_V2_CONFIG_JSON = {  # owkin/phikon-v2 config.json
    'architectures': ['Dinov2Model'],
    'attention_probs_dropout_prob': 0.0,
    'drop_path_rate': 0.0,
    'hidden_act': 'gelu',
    'hidden_dropout_prob': 0.0,
    'hidden_size': 1024,
    'image_size': 224,
    'initializer_range': 0.02,
    'layer_norm_eps': 1e-6,
    'layerscale_value': 1e-5,
    'mlp_ratio': 4,
    'model_type': 'dinov2',
    'num_attention_heads': 16,
    'num_channels': 3,
    'num_hidden_layers': 24,
    'patch_size': 16,
    'qkv_bias': True,
    'use_swiglu_ffn': False,
}
# MahmoodLab/CONCH conch_ViT-B-16.json
CONCH_MODEL_CFG = {
    'embed_dim': 512,
    'embed_dim_caption': 768,
    'vision_cfg': {
        'image_size': 448,
        'patch_size': 16,
        'attentional_pool_caption': True,
        'attentional_pool_contrast': True,
        'attn_pooler_heads': 8,
        'n_queries_contrast': 1,
        'n_queries_caption': 256,
        'output_tokens': True
    },
    'text_cfg': {
        'context_length': 128,
        'vocab_size': 32007,
        'width': 768,
        'heads': 12,
        'layers': 12,
        'embed_cls': True,
        'output_tokens': True
    },
    'multimodal_cfg': {
        'context_length': 128,
        'vocab_size': 32007,
        'width': 768,
        'heads': 12,
        'layers': 12
    },
}
HOPT_MEAN = (0.707223, 0.578729, 0.703617)
HOPT_STD = (0.211883, 0.230117, 0.177517)
IMNET_MEAN = (0.485, 0.456, 0.406)
IMNET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CARD_STATS = {
    'uni': (IMNET_MEAN, IMNET_STD),
    'uni2-h': (IMNET_MEAN, IMNET_STD),
    'virchow2': (IMNET_MEAN, IMNET_STD),
    'h-optimus-0': (HOPT_MEAN, HOPT_STD),
    'h-optimus-1': (HOPT_MEAN, HOPT_STD),
    'phikon': (IMNET_MEAN, IMNET_STD),
    'phikon-v2': (IMNET_MEAN, IMNET_STD),
    'conch': (CLIP_MEAN, CLIP_STD),
}


def published_timm_model(arch, tiny):
    """The timm models as their authors build them (``tiny`` replaces the
    widths)."""
    import timm
    from timm.layers import GluMlp, SwiGLUPacked
    silu = torch.nn.SiLU
    if arch == 'uni':  # uni.get_encoder('uni')
        return timm.create_model(
            'vit_large_patch16_224',
            **dict(
                dict(
                    img_size=224,
                    patch_size=16,
                    init_values=1e-5,
                    num_classes=0,
                    dynamic_img_size=True), **tiny))
    if arch == 'uni2-h':  # the UNI2-h card's timm_kwargs
        return timm.create_model(
            'vit_giant_patch14_224',
            **dict(
                dict(
                    img_size=224,
                    patch_size=14,
                    depth=24,
                    num_heads=24,
                    init_values=1e-5,
                    embed_dim=1536,
                    mlp_ratio=2.66667 * 2,
                    num_classes=0,
                    no_embed_class=True,
                    mlp_layer=SwiGLUPacked,
                    act_layer=silu,
                    reg_tokens=8,
                    dynamic_img_size=True), **tiny))
    if arch == 'virchow2':  # config.json model_args + the card's layers
        return timm.create_model(
            'vit_huge_patch14_224',
            **dict(
                dict(
                    img_size=224,
                    init_values=1e-5,
                    num_classes=0,
                    reg_tokens=4,
                    mlp_ratio=5.3375,
                    global_pool='',
                    dynamic_img_size=True,
                    mlp_layer=SwiGLUPacked,
                    act_layer=silu), **tiny))
    if arch == 'h-optimus-0':  # Bioptimus' release parameters
        return timm.models.VisionTransformer(**dict(
            dict(
                patch_size=14,
                embed_dim=1536,
                depth=40,
                num_heads=24,
                init_values=1e-05,
                mlp_ratio=5.33334,
                mlp_layer=functools.partial(
                    GluMlp, act_layer=silu, gate_last=False),
                act_layer=silu,
                reg_tokens=4,
                no_embed_class=True,
                img_size=224,
                num_classes=0,
                in_chans=3), **tiny))
    # H-optimus-1's card: create_model('hf-hub:bioptimus/H-optimus-1',
    # init_values=1e-5, dynamic_img_size=False) on its config.json
    # (architecture, num_classes 0, global_pool token, fixed 224 input)
    return timm.create_model(
        'vit_giant_patch14_reg4_dinov2',
        **dict(
            dict(
                img_size=224,
                num_classes=0,
                global_pool='token',
                init_values=1e-5,
                dynamic_img_size=False), **tiny))


def published_model(arch, tiny):
    """The published model (CONCH: the whole CoCa, tiny text towers)."""
    if arch == 'phikon':
        from transformers import ViTConfig, ViTModel
        return ViTModel(
            ViTConfig(**dict(PHIKON_CONFIG_JSON, **tiny)),
            add_pooling_layer=False)
    if arch == 'phikon-v2':
        from transformers import Dinov2Config, Dinov2Model
        return Dinov2Model(Dinov2Config(**dict(PHIKON_V2_CONFIG_JSON, **tiny)))
    if arch == 'conch':
        from conch.open_clip_custom.coca_model import CoCa
        cfg = dict(CONCH_MODEL_CFG)
        cfg['vision_cfg'] = dict(cfg['vision_cfg'], **tiny)
        if tiny:  # text towers play no part in the image embedding
            cfg['text_cfg'] = dict(
                cfg['text_cfg'],
                context_length=8,
                vocab_size=16,
                width=16,
                heads=2,
                layers=1)
            cfg['multimodal_cfg'] = dict(cfg['text_cfg'], layers=0)
        return CoCa(**cfg)
    return published_timm_model(arch, tiny)


def image_tower(arch, model):
    """The part of the published model our encoder builds."""
    return model.visual if arch == 'conch' else model


def published_embedding(arch, model, pixels, pooling=None):
    """The embedding as each card computes it from normalised pixels."""
    if arch == 'virchow2':  # the card: class token + mean of patch tokens
        out = model(pixels)
        return torch.cat([out[:, 0], out[:, 5:].mean(1)], dim=-1)
    if arch in ('phikon', 'phikon-v2'):
        return model(pixel_values=pixels).last_hidden_state[:, 0, :]
    if arch == 'conch':
        proj = pooling == 'attn_pool_proj'
        return model.encode_image(pixels, proj_contrast=proj, normalize=proj)
    return model(pixels)  # class token after the final norm (head: none)


PLAIN = (bool, int, float, str, type(None))


def module_signature(module):
    """Type, repr and plain attributes of one module (not its children)."""
    attrs = {
        k: v
        for k, v in vars(module).items()
        if not k.startswith('_') and k != 'training' and (
            isinstance(v, PLAIN) or isinstance(v, tuple) and all(
                isinstance(x, PLAIN) for x in v))
    }
    return type(module).__name__, module.extra_repr(), attrs


def architecture_differences(ours, published):
    """Module by module and tensor by tensor (names and shapes)."""
    a, b = dict(ours.named_modules()), dict(published.named_modules())
    diffs = [f'module only in ours: {n}' for n in sorted(a.keys() - b.keys())]
    diffs += [
        f'module only published: {n}' for n in sorted(b.keys() - a.keys())
    ]
    for name in sorted(a.keys() & b.keys()):
        mine, theirs = module_signature(a[name]), module_signature(b[name])
        if mine != theirs:
            diffs.append(f'{name or "model"}: {mine} vs {theirs}')
    sa, sb = ours.state_dict(), published.state_dict()
    diffs += [
        f'{k}: {tuple(sa[k].shape)} vs {tuple(sb[k].shape)}' for k in sa
        if k in sb and sa[k].shape != sb[k].shape
    ]
    return diffs


TWIN_TINY = {
    arch: dict(TINY[arch], **extra)
    for arch, extra in [('uni', {}), ('uni2-h', {}), (
        'virchow2',
        {}), ('h-optimus-0',
              {}), ('h-optimus-1', {}), ('phikon', dict(
                  image_size=64)), ('phikon-v2',
                                    dict(image_size=64)), ('conch', {})]
}


def perturb(model, seed=1):
    """Weights far from a fresh init (layer scales of 1e-5 would hide every
    residual branch), the same for both models once copied."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(
                torch.randn(p.shape, generator=gen) * 0.3 +
                (1.0 if p.dim() == 1 and p.shape[0] > 8 else 0.0))


def twin_differences(arch, pooling=None):
    """What differs between our tiny build of ``arch`` and its publication.

    Returns:
        list[str]: Empty when module by module, initialisation and embedding
        agree.
    """
    tiny = TWIN_TINY[arch]
    size = tiny.get('img_size', tiny.get('image_size', 4 * PATCH[arch]))
    ours = FoundationModelEncoder(
        arch,
        allow_random_init=True,
        arch_overrides=tiny,
        input_size=size,
        pooling=pooling)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the seed of the encoders' random init
        published = published_model(arch, tiny).eval()
    tower = image_tower(arch, published)
    diffs = architecture_differences(ours.model, tower)
    if arch != 'conch':  # CoCa builds its text towers first (other draws)
        theirs = tower.state_dict()
        diffs += [
            f'fresh init of {k}' for k, v in ours.model.state_dict().items()
            if k in theirs and v.shape == theirs[k].shape
            and not torch.equal(v, theirs[k])
        ]
    if diffs:
        return diffs
    perturb(tower)
    ours.model.load_state_dict(tower.state_dict(), strict=True)
    mean, std = CARD_STATS[arch]
    x = torch.rand(
        2, 3, size, size, generator=torch.Generator().manual_seed(2))
    pixels = (x - torch.tensor(mean).view(
        1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = published_embedding(arch, published, pixels, pooling)
        got = ours(x)
    if got.shape != expected.shape:
        return [
            f'embedding shape {tuple(got.shape)} vs '
            f'{tuple(expected.shape)}'
        ]
    err = (got - expected).abs().max().item()
    scale = expected.abs().max().item()
    if err > 1e-4 * max(scale, 1.0):
        diffs.append(f'embedding differs by {err:.3g} (scale {scale:.3g})')
    return diffs


@pytest.mark.parametrize('arch', sorted(FOUNDATION_MODELS))
def test_tiny_twin_equals_the_published_model(arch):
    """Module by module, initialisation and embedding equal to a twin built
    from the authors' own arguments with their libraries."""
    assert twin_differences(arch) == []


def test_conch_image_text_space_is_normalised_projection():
    """attn_pool_proj is encode_image(proj_contrast=True, normalize=True)."""
    assert twin_differences('conch', pooling='attn_pool_proj') == []


@pytest.mark.parametrize('arch', sorted(FOUNDATION_MODELS))
def test_full_size_architecture_equals_the_published_one(arch):
    """The real sizes, module by module, on the meta device."""
    with torch.device('meta'):
        ours = build_foundation_model(foundation_spec(arch))
        published = image_tower(arch, published_model(arch, {}))
    assert architecture_differences(ours, published) == []


def published_transform(arch):
    """Each card's input pipeline on a PIL image (``[3, S, S]`` tensor)."""
    from torchvision import transforms as T
    mean, std = CARD_STATS[arch]
    if arch in ('uni', 'uni2-h'):  # uni.get_encoder: get_eval_transforms
        return T.Compose([
            T.Resize(224),
            T.CenterCrop(224),
            T.ToTensor(),
            T.Normalize(mean, std)
        ])
    if arch == 'virchow2':  # timm transform of its config.json
        from timm.data import create_transform
        return create_transform(
            input_size=(3, 224, 224),
            interpolation='bicubic',
            crop_pct=1.0,
            crop_mode='center',
            mean=mean,
            std=std)
    if arch.startswith('h-optimus'):  # 224 x 224 tiles, no resize
        return T.Compose([T.ToTensor(), T.Normalize(mean, std)])
    if arch == 'conch':
        from conch.open_clip_custom.transform import image_transform
        return image_transform(448, mean=mean, std=std)
    return hf_processor_transform(arch, PREPROCESSOR_JSON[arch])


PREPROCESSOR_JSON = {
    # owkin/phikon preprocessor_config.json (read as ViTImageProcessor)
    'phikon': {
        'do_normalize': True,
        'do_resize': True,
        'image_mean': list(IMNET_MEAN),
        'image_std': list(IMNET_STD),
        'size': 224
    },
    # owkin/phikon-v2 preprocessor_config.json: a BitImageProcessor
    'phikon-v2': {
        'crop_size': {
            'height': 224,
            'width': 224
        },
        'do_center_crop': True,
        'do_convert_rgb': True,
        'do_normalize': True,
        'do_rescale': True,
        'do_resize': True,
        'image_mean': list(IMNET_MEAN),
        'image_processor_type': 'BitImageProcessor',
        'image_std': list(IMNET_STD),
        'resample': 3,
        'rescale_factor': 1 / 255,
        'size': {
            'shortest_edge': 224
        }
    },
}


def hf_processor_transform(arch, config):
    """The card's ``AutoImageProcessor`` for a preprocessor_config.json."""
    import numpy as np
    import transformers
    name = config.get('image_processor_type', 'ViTImageProcessor')
    processor = getattr(transformers, name)(**{
        k: v
        for k, v in config.items() if k != 'image_processor_type'
    })
    return lambda image: torch.from_numpy(
        np.asarray(processor(image)['pixel_values'][0]))


# the image sizes the cards are shown: square and not, down and up, and an
# odd crop margin (224 x 231: torchvision rounds the offset 3.5 to 4,
# transformers' processors floor it to 3); H-optimus: 224 px tiles only
TRANSFORM_SIZES = [(224, 224), (300, 260), (150, 180), (224, 231)]


def transform_differences(arch):
    """Gaps between our resize + normalise and the card's pipeline on a PIL
    image, in grey levels (the card rounds to uint8: up to ~1)."""
    enc = FoundationModelEncoder(
        arch, allow_random_init=True, arch_overrides=TINY[arch])
    sizes = TRANSFORM_SIZES[:1] if arch.startswith('h-optimus') \
        else TRANSFORM_SIZES
    return pipeline_differences(enc, published_transform(arch),
                                CARD_STATS[arch][1], sizes)


def pipeline_differences(enc, card, std, sizes):
    """``enc.preprocess`` against ``card`` on random uint8 images."""
    import numpy as np
    from PIL import Image
    std = torch.tensor(std).view(3, 1, 1)
    diffs = []
    for h, w in sizes:
        rgb = np.random.default_rng(h).integers(0, 256, (h, w, 3), np.uint8)
        expected = card(Image.fromarray(rgb))
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            got = enc.preprocess(x)[0]
        if got.shape != expected.shape:
            diffs.append(f'{h}x{w}: {tuple(got.shape)} vs '
                         f'{tuple(expected.shape)}')
            continue
        levels = ((got - expected) * std * 255).abs()
        if levels.max() > 1.5 or levels.mean() > 0.5:
            diffs.append(f'{h}x{w}: max {levels.max():.2f}, mean '
                         f'{levels.mean():.3f} grey levels')
    return diffs


@pytest.mark.parametrize('arch', sorted(FOUNDATION_MODELS))
def test_resize_and_normalisation_follow_the_card(arch):
    """The encoder's preprocessing equals the card's pipeline on a PIL image
    (interpolation, antialiasing, shorter side + centre crop or squash,
    statistics) up to uint8 rounding."""
    assert transform_differences(arch) == []


# One published argument changed at a time: the comparisons above must see
# each change (they are the tests of the table, and they can fail).
MUTATIONS = [
    ('uni2-h', 'activation (act_layer SiLU removed: GELU gate)',
     lambda s: s['timm_kwargs'].pop('act_layer')),
    ('uni2-h', 'gate position (gate_last=True)',
     lambda s: s['timm_kwargs'].update(
         mlp_layer=functools.partial(
             __import__('timm').layers.GluMlp,
             act_layer=torch.nn.SiLU,
             gate_last=True))),
    ('uni2-h', 'registers (reg_tokens 8 -> 4)',
     lambda s: s['timm_kwargs'].update(reg_tokens=4)),
    ('uni', 'LayerNorm epsilon (1e-6 -> 1e-5)', lambda s: s['timm_kwargs'].
     update(norm_layer=functools.partial(torch.nn.LayerNorm, eps=1e-5))),
    ('uni', 'init_values (1e-5 -> 1e-6)',
     lambda s: s['timm_kwargs'].update(init_values=1e-6)),
    ('virchow2', 'pooling (class token only)',
     lambda s: s.update(pooling='cls')),
    ('virchow2', 'mlp_ratio (5.3375 -> 4)',
     lambda s: s['timm_kwargs'].update(mlp_ratio=4)),
    ('h-optimus-0', 'init_values (1e-5 -> 1e-6)',
     lambda s: s['timm_kwargs'].update(init_values=1e-6)),
    ('h-optimus-0', 'position embedding of the class token (no_embed_class)',
     lambda s: s['timm_kwargs'].update(no_embed_class=False)),
    ('h-optimus-1', 'statistics (ImageNet instead of Bioptimus)',
     lambda s: s.update(mean=IMNET_MEAN, std=IMNET_STD)),
    ('phikon', 'LayerNorm epsilon (1e-6 -> 1e-12, the reported bug)',
     lambda s: s['hf_config'].update(layer_norm_eps=1e-12)),
    ('phikon-v2', 'layer scale init (1e-5 -> 1)',
     lambda s: s['hf_config'].update(layerscale_value=1.0)),
    ('phikon-v2', 'activation (gelu -> silu)',
     lambda s: s['hf_config'].update(hidden_act='silu')),
]
TRANSFORM_MUTATIONS = [
    ('virchow2', 'interpolation (bicubic -> bilinear)',
     lambda s: s['resize'].update(interpolation='bilinear')),
    ('uni', 'antialias off', lambda s: s['resize'].update(antialias=False)),
    ('phikon-v2', 'squash instead of centre crop',
     lambda s: s['resize'].update(center_crop=False)),
    ('phikon-v2', "crop offset rounded as torchvision's, not floored",
     lambda s: s['resize'].update(crop_rounding='round')),
    ('conch', 'interpolation (bicubic -> bilinear)',
     lambda s: s['resize'].update(interpolation='bilinear')),
]


@pytest.mark.parametrize(
    'arch,what,mutate', MUTATIONS, ids=[f'{a}: {w}' for a, w, _ in MUTATIONS])
def test_the_twin_comparison_catches_each_changed_argument(
        arch, what, mutate, monkeypatch):
    spec = copy.deepcopy(FOUNDATION_MODELS[arch])
    mutate(spec)
    monkeypatch.setitem(FOUNDATION_MODELS, arch, spec)
    assert twin_differences(arch), what


@pytest.mark.parametrize(
    'arch,what,mutate',
    TRANSFORM_MUTATIONS,
    ids=[f'{a}: {w}' for a, w, _ in TRANSFORM_MUTATIONS])
def test_the_transform_comparison_catches_each_changed_setting(
        arch, what, mutate, monkeypatch):
    spec = copy.deepcopy(FOUNDATION_MODELS[arch])
    mutate(spec)
    monkeypatch.setitem(FOUNDATION_MODELS, arch, spec)
    assert transform_differences(arch), what


def logged_warnings(monkeypatch):
    """The messages the foundation-model helpers log, collected."""
    from mmseg_pbip.models.utils import foundation_models
    messages = []
    monkeypatch.setattr(foundation_models, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    return messages


def test_config_json_of_the_folder_is_authoritative(tmp_path, monkeypatch):
    """A Phikon folder's config.json decides the build; values that differ from
    the published ones are logged, never silently replaced."""
    tiny = dict(TWIN_TINY['phikon'])
    current = published_model('phikon', tiny)
    perturb(current)
    folder = str(tmp_path / 'phikon')
    current.save_pretrained(folder)
    with open(osp.join(folder, 'config.json')) as f:
        assert json.load(f)['layer_norm_eps'] == 1e-6
    enc = FoundationModelEncoder(
        'phikon', checkpoint=folder, arch_overrides=tiny, input_size=64)
    eps = {m.eps for m in enc.model.modules() if hasattr(m, 'eps')}
    assert eps == {1e-6}
    # an old download: layer_norm_eps 1e-12 before Owkin's fix
    with open(osp.join(folder, 'config.json')) as f:
        old = json.load(f)
    old['layer_norm_eps'] = 1e-12
    with open(osp.join(folder, 'config.json'), 'w') as f:
        json.dump(old, f)
    logged = logged_warnings(monkeypatch)
    enc = FoundationModelEncoder('phikon', checkpoint=folder)
    eps = {m.eps for m in enc.model.modules() if hasattr(m, 'eps')}
    assert eps == {1e-12}  # as the file says ...
    assert any('layer_norm_eps: config.json 1e-12 vs table 1e-06' in m
               for m in logged), logged
    assert enc.model.config.hidden_size == 32  # ... widths from the file too
    # a Phikon-v2 folder given as Phikon is refused by name
    old['model_type'] = 'dinov2'
    with open(osp.join(folder, 'config.json'), 'w') as f:
        json.dump(old, f)
    with pytest.raises(ValueError, match="model_type 'dinov2'"):
        FoundationModelEncoder('phikon', checkpoint=folder)


def test_preprocessor_config_json_of_the_folder_decides_the_transform(
        tmp_path, monkeypatch):
    """A Hugging Face folder's preprocessor_config.json is the card's transform
    (AutoImageProcessor reads it): Owkin's Phikon file gives the published one
    silently; a DINOv2-style Phikon-v2 file (shorter side 256, centre crop 224)
    is followed, and its difference logged."""
    files = {
        'phikon':
        PREPROCESSOR_JSON['phikon'],
        'phikon-v2':
        dict(PREPROCESSOR_JSON['phikon-v2'], size={'shortest_edge': 256})
    }
    for arch, config in files.items():
        folder = str(tmp_path / arch)
        published_model(arch, TWIN_TINY[arch]).save_pretrained(folder)
        with open(osp.join(folder, 'preprocessor_config.json'), 'w') as f:
            json.dump(config, f)
        logged = logged_warnings(monkeypatch)
        enc = FoundationModelEncoder(arch, checkpoint=folder)
        assert enc.input_size == 224
        assert pipeline_differences(enc, hf_processor_transform(arch, config),
                                    CARD_STATS[arch][1],
                                    TRANSFORM_SIZES) == []
        about_transform = [m for m in logged if 'published transform' in m]
        if arch == 'phikon':
            assert about_transform == []
        else:
            assert len(about_transform) == 1
            assert "'resize_size': 256" in about_transform[0]


def run_inspection_tool(args, capsys, monkeypatch):
    """The tool's main() in this process (its import is the slow part)."""
    import importlib.util
    import sys
    module_spec = importlib.util.spec_from_file_location(
        'inspect_foundation_model', TOOL)
    tool = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(tool)
    monkeypatch.setattr(sys, 'argv', [TOOL] + args)
    capsys.readouterr()
    code = tool.main()
    return code, capsys.readouterr().out


def write_current_download(arch, folder):
    """A download's layout at full size (tensors: views of one value): the file
    name, prefixes and config.json of the published repository."""
    os.makedirs(folder, exist_ok=True)
    name = 'pytorch_model.bin'
    full_size_file(arch, osp.join(folder, name))
    if arch in ('phikon', 'phikon-v2'):
        config = PHIKON_CONFIG_JSON if arch == 'phikon' \
            else PHIKON_V2_CONFIG_JSON
        with open(osp.join(folder, 'config.json'), 'w') as f:
            json.dump(config, f)
    if arch == 'conch':  # the whole CoCa: visual.* and the text towers
        state = torch.load(osp.join(folder, name), weights_only=True)
        state = {f'visual.{k}': v for k, v in state.items()}
        state['text.token_embedding.weight'] = torch.zeros(
            ()).expand(32007, 768)
        state['logit_scale'] = torch.ones(())
        torch.save(state, osp.join(folder, name))


@pytest.mark.parametrize('arch', sorted(FOUNDATION_MODELS))
def test_inspection_tool_accepts_a_current_download(arch, tmp_path, capsys,
                                                    monkeypatch):
    folder = str(tmp_path / arch)
    write_current_download(arch, folder)
    code, out = run_inspection_tool([folder, '--arch', arch], capsys,
                                    monkeypatch)
    assert code == 0, out
    assert f'{arch:12s} MATCH' in out
    assert 'note:' not in out
    assert FOUNDATION_MODELS[arch]['config'] in out


def test_inspection_tool_names_an_old_phikon_config(tmp_path, capsys,
                                                    monkeypatch):
    folder = str(tmp_path / 'phikon')
    write_current_download('phikon', folder)
    with open(osp.join(folder, 'config.json'), 'w') as f:
        json.dump(dict(PHIKON_CONFIG_JSON, layer_norm_eps=1e-12), f)
    code, out = run_inspection_tool([folder], capsys, monkeypatch)
    assert code == 0, out
    assert 'phikon       MATCH' in out
    assert 'note: config.json differs from the published configuration, ' \
        'layer_norm_eps: config.json 1e-12 vs table 1e-06' in out
    assert 'phikon-v2    no match (1 config_json)' in out


PUBLISHED_FEATURES = {
    'uni': 1024,
    'uni2-h': 1536,
    'virchow2': 2560,
    'h-optimus-0': 1536,
    'h-optimus-1': 1536,
    'phikon': 768,
    'phikon-v2': 1024,
    'conch': 512
}


@pytest.mark.parametrize('arch', sorted(FOUNDATION_MODELS))
def test_each_family_has_a_bcss_wsss_config(arch):
    """The family's shipped config (found by its name) uses the model as PBIP's
    prototype encoder in its own input space, with the prototype size of its
    features; the README and docs tables point to it."""
    path = FOUNDATION_MODELS[arch]['config']
    name = osp.basename(path)
    assert name == f'pbip_mit-b1_{arch}_1xb10-8e_bcss-wsss-224x224.py'
    cfg = Config.fromfile(osp.join(REPO, path))
    enc = cfg.model.image_encoder
    assert enc.type == 'FoundationModelEncoder' and enc.arch == arch
    assert enc.checkpoint.startswith(f'pretrained/{arch}')
    assert cfg.model.head.prototype_dim is None  # the encoder's size
    assert cfg.model.match_loss.image_space == 'rgb01'
    hook = [h for h in cfg.custom_hooks if h.type == 'ImageBankHook'][0]
    assert hook.input_space == 'rgb01' and hook.stretch is False
    assert cfg.train_dataloader.dataset.type == 'BCSSWSSSDataset'
    with torch.device('meta'):
        encoder = MODELS.build(
            dict(enc, checkpoint=None, allow_random_init=True))
    assert encoder.out_channels == PUBLISHED_FEATURES[arch]
    for doc in ('configs/pbip/README.md', 'configs/pbip/metafile.yaml',
                'docs/methods.md'):
        with open(osp.join(REPO, doc)) as f:
            assert name[:-3] in f.read(), doc
