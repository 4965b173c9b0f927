"""Pathology foundation models as encoders / backbones, their weight files and
the inspection tool."""
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
    x = torch.rand(2, 3, 48, 48, dtype=torch.float64, generator=gen)
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
    assert torch.allclose(proj(x), pooled @ visual.proj_contrast, atol=1e-5)
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


def test_inspection_tool(tmp_path):
    good = str(tmp_path / 'uni.bin')
    full_size_file('uni', good)
    code, out = run([TOOL, good], check=False)
    assert code == 0, out
    assert 'uni          MATCH' in out
    assert 'uni2-h       no match' in out
    assert "model.image_encoder.arch='uni'" in out
    assert 'model.head.in_channels=[1024] * 4' in out
    bad = str(tmp_path / 'bad.bin')
    full_size_file('virchow2', bad, drop=('reg_token', ))
    code, out = run([TOOL, bad, '--arch', 'virchow2'], check=False)
    assert code == 1
    assert "closest: virchow2: 1 missing: ['reg_token']" in out
    both = str(tmp_path / 'hopt.bin')
    full_size_file('h-optimus-0', both)
    code, out = run(
        [TOOL, both, '--out', str(tmp_path / 'clean.pth')], check=False)
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
    with pytest.raises(ImportError, match='pip install conch-fork'):
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
