"""Frozen prototype encoders on tiny configs, and their weight loading."""
import pytest
import torch

from mmseg_pbip.models import (CLIPVisionEncoder, DINOv2Encoder,
                               MedCLIPVisionEncoder)

TINY_SWIN = dict(
    image_size=56, embed_dim=8, depths=[1, 1], num_heads=[1, 2], window_size=7)
TINY_CLIP = dict(
    image_size=32,
    patch_size=8,
    hidden_size=16,
    intermediate_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    projection_dim=12)
TINY_DINO = dict(
    image_size=28,
    patch_size=14,
    hidden_size=16,
    intermediate_size=32,
    num_hidden_layers=1,
    num_attention_heads=2)


def tiny_medclip(**kwargs):
    return MedCLIPVisionEncoder(
        variant='swin',
        hf_config=TINY_SWIN,
        input_size=56,
        allow_random_init=True,
        **kwargs)


@pytest.mark.parametrize('build, dim', [
    (tiny_medclip, 512),
    (lambda: CLIPVisionEncoder(hf_config=TINY_CLIP, allow_random_init=True),
     12),
    (lambda: DINOv2Encoder(
        hf_config=TINY_DINO, input_size=28, allow_random_init=True), 16),
])
def test_frozen_encoders(build, dim):
    enc = build()
    assert enc.out_channels == dim
    assert not any(p.requires_grad for p in enc.parameters())
    enc.train()
    assert not enc.training  # stays in eval mode
    images = torch.rand(3, 3, 64, 64, requires_grad=True)
    feats = enc(images)
    assert feats.shape == (3, dim)
    feats.sum().backward()  # gradients reach the image (FG/BG loss)
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_medclip_resnet50():
    enc = MedCLIPVisionEncoder(
        variant='resnet50', allow_random_init=True, input_size=64)
    assert enc(torch.rand(2, 3, 48, 48)).shape == (2, 512)
    assert enc.model.fc.weight.shape == (512, 2048)


def test_released_projection_is_seeded():
    a, b = tiny_medclip(), tiny_medclip()
    assert torch.equal(a.projection_head.weight, b.projection_head.weight)
    c = tiny_medclip(projection_seed=1)
    assert not torch.equal(a.projection_head.weight, c.projection_head.weight)


def test_medclip_checkpoint_round_trip(tmp_path):
    """A pytorch_model.bin with MedCLIP's key names loads exactly."""
    src = tiny_medclip(projection_seed=7)
    state = {f'vision_model.{k}': v for k, v in src.state_dict().items()}
    state['text_model.model.embeddings.weight'] = torch.zeros(2, 2)
    assert 'vision_model.projection_head.weight' in state
    assert any(k.startswith('vision_model.model.') for k in state)
    path = str(tmp_path / 'pytorch_model.bin')
    torch.save(state, path)
    dst = MedCLIPVisionEncoder(
        variant='swin', hf_config=TINY_SWIN, input_size=56, checkpoint=path)
    x = torch.rand(2, 3, 56, 56)
    assert torch.allclose(src(x), dst(x))
    assert dst.description == f'MedCLIPVisionEncoder({path})'
    wrong = str(tmp_path / 'wrong.bin')
    torch.save({'visual.proj': torch.zeros(1)}, wrong)
    with pytest.raises(ValueError, match='no vision_model'):
        MedCLIPVisionEncoder(
            variant='swin', hf_config=TINY_SWIN, checkpoint=wrong)


def test_hugging_face_folders(tmp_path):
    """from_pretrained on local folders (Swin for MedCLIP, CLIP/PLIP)."""
    from transformers import (CLIPVisionConfig, CLIPVisionModelWithProjection,
                              SwinConfig, SwinModel)
    swin_dir = str(tmp_path / 'swin-tiny')
    SwinModel(SwinConfig(**TINY_SWIN)).save_pretrained(swin_dir)
    enc = MedCLIPVisionEncoder(
        variant='swin', swin_pretrained=swin_dir, input_size=56)
    assert enc(torch.rand(1, 3, 56, 56)).shape == (1, 512)
    clip_dir = str(tmp_path / 'plip')
    ref = CLIPVisionModelWithProjection(CLIPVisionConfig(**TINY_CLIP))
    ref.save_pretrained(clip_dir)
    enc = CLIPVisionEncoder(pretrained=clip_dir)
    x = torch.rand(1, 3, 32, 32)
    assert torch.allclose(
        enc(x),
        ref(pixel_values=enc.preprocess(x)).image_embeds)


def test_missing_weights_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='allow_random_init=True'):
        MedCLIPVisionEncoder(variant='swin', hf_config=TINY_SWIN)
    with pytest.raises(FileNotFoundError, match='pytorch_model.bin'):
        MedCLIPVisionEncoder(
            variant='resnet50', checkpoint=str(tmp_path / 'nope.bin'))
    with pytest.raises(FileNotFoundError, match='dinov2'):
        DINOv2Encoder()
    with pytest.raises(ValueError, match='variant'):
        MedCLIPVisionEncoder(variant='vit', allow_random_init=True)
