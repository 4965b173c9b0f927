"""MiT weight converters on state dicts with the sources' real keys."""
import importlib.util
import os.path as osp
import subprocess
import sys

import torch
from mmseg.models.backbones import MixVisionTransformer
from utils import REPO

from mmseg_pbip.utils import safe_load

# the converter tool as a module (tools/ is not a package)
_spec = importlib.util.spec_from_file_location(
    'mit2mmseg', osp.join(REPO, 'tools', 'model_converters', 'mit2mmseg.py'))
mit2mmseg = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mit2mmseg)


def convert_hf_mit(state_dict):
    return mit2mmseg.convert(state_dict, 'hf')


def convert_nvlabs_mit(state_dict):
    return mit2mmseg.convert(state_dict, 'nvlabs')


DIMS = [8, 16, 40, 64]


def tiny_mit():
    return MixVisionTransformer(
        embed_dims=8, num_layers=[1, 1, 1, 1], num_heads=[1, 2, 5, 8]).eval()


def hf_tiny():
    from transformers import SegformerConfig, SegformerForImageClassification
    cfg = SegformerConfig(
        hidden_sizes=DIMS,
        depths=[1, 1, 1, 1],
        num_attention_heads=[1, 2, 5, 8],
        num_labels=3)
    torch.manual_seed(0)
    return SegformerForImageClassification(cfg).eval()


def test_hf_to_mmseg_same_outputs():
    hf = hf_tiny()
    mit = tiny_mit()
    missing, unexpected = mit.load_state_dict(
        convert_hf_mit(hf.state_dict()), strict=True)
    assert not missing and not unexpected
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = hf.segformer(x, output_hidden_states=True).hidden_states
        out = mit(x)
    for a, b in zip(ref, out):
        assert torch.allclose(a, b, atol=1e-5)


def nvlabs_state_from(mit_state):
    """Write an MMSeg MiT's weights under NVlabs' key names and shapes."""
    sd = {}
    for s in range(4):
        sd[f'patch_embed{s+1}.proj.weight'] = \
            mit_state[f'layers.{s}.0.projection.weight']
        sd[f'patch_embed{s+1}.proj.bias'] = \
            mit_state[f'layers.{s}.0.projection.bias']
        for p in ('weight', 'bias'):
            sd[f'patch_embed{s+1}.norm.{p}'] = mit_state[
                f'layers.{s}.0.norm.{p}']
            sd[f'norm{s+1}.{p}'] = mit_state[f'layers.{s}.2.{p}']
            b = f'layers.{s}.1.0.'
            n = f'block{s+1}.0.'
            qkv = mit_state[b + f'attn.attn.in_proj_{p}']
            c = DIMS[s]
            sd[n + f'attn.q.{p}'] = qkv[:c]
            sd[n + f'attn.kv.{p}'] = qkv[c:]
            sd[n + f'attn.proj.{p}'] = mit_state[b + f'attn.attn.out_proj.{p}']
            for k in ('norm1', 'norm2'):
                sd[n + f'{k}.{p}'] = mit_state[b + f'{k}.{p}']
            if s < 3:
                sd[n + f'attn.sr.{p}'] = mit_state[b + f'attn.sr.{p}']
                sd[n + f'attn.norm.{p}'] = mit_state[b + f'attn.norm.{p}']
            fc1, dw, fc2 = (
                mit_state[b + f'ffn.layers.{i}.{p}'] for i in (0, 1, 4))
            # MMSeg's 1x1 convolutions are NVlabs' linear layers
            sd[n + f'mlp.fc1.{p}'] = fc1.flatten(1) if p == 'weight' else fc1
            sd[n + f'mlp.dwconv.dwconv.{p}'] = dw
            sd[n + f'mlp.fc2.{p}'] = fc2.flatten(1) if p == 'weight' else fc2
    sd['head.weight'] = torch.zeros(1000, 64)
    sd['head.bias'] = torch.zeros(1000)
    return sd


def test_nvlabs_to_mmseg_round_trip():
    torch.manual_seed(3)
    src = tiny_mit()
    nv = nvlabs_state_from(src.state_dict())
    assert 'block1.0.attn.kv.weight' in nv and nv[
        'block1.0.mlp.fc1.weight'].dim() == 2
    dst = tiny_mit()
    missing, unexpected = dst.load_state_dict(
        convert_nvlabs_mit(nv), strict=True)
    assert not missing and not unexpected
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(src(x), dst(x)):
            assert torch.equal(a, b)


def test_converter_tool(tmp_path):
    hf = hf_tiny()
    folder = tmp_path / 'mit-b1'
    hf.save_pretrained(str(folder))
    dst = str(tmp_path / 'mit_mmseg.pth')
    proc = subprocess.run([
        sys.executable, 'tools/model_converters/mit2mmseg.py',
        str(folder), dst
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '(hf)' in proc.stdout
    state = safe_load(dst)['state_dict']
    tiny_mit().load_state_dict(state, strict=True)
    assert osp.isfile(dst)
