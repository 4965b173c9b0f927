"""Map foreign MiT (SegFormer encoder) checkpoints to MMSeg's MiT keys.

Sources:

- NVlabs SegFormer ImageNet weights (``mit_b1.pth``): ``patch_embed{s}.*``,
  ``block{s}.{j}.{norm1,attn.q,attn.kv,attn.proj,attn.sr,attn.norm,norm2,
  mlp.fc1,mlp.dwconv.dwconv,mlp.fc2}``, ``norm{s}``, ``head.*`` (s = 1..4);
- Hugging Face ``nvidia/mit-b1`` (``SegformerForImageClassification``):
  ``segformer.encoder.{patch_embeddings,block,layer_norm}.*``,
  ``classifier.*``.

Target (``mmseg.models.backbones.MixVisionTransformer``): ``layers.{s}.0``
patch embedding, ``layers.{s}.1.{j}`` blocks (``attn.attn.in_proj_*`` holds
q, k, v stacked; FFN linears are 1x1 convolutions), ``layers.{s}.2`` norm
(s = 0..3). Classification heads are dropped.
"""
import re
from collections import OrderedDict
from typing import Dict

import torch

Tensor = torch.Tensor


def _as_conv1x1(w: Tensor) -> Tensor:
    return w[:, :, None, None] if w.dim() == 2 else w


def _block_key(stage: int, block: int, rest: str) -> str:
    return f'layers.{stage}.1.{block}.{rest}'


def convert_nvlabs_mit(state_dict: Dict[str, Tensor]) -> 'OrderedDict':
    """NVlabs ``mit_b*.pth`` -> MMSeg MiT state dict (see module doc)."""
    out = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith('head.'):
            continue
        m = re.match(r'patch_embed(\d)\.(proj|norm)\.(weight|bias)$', key)
        if m:
            part = 'projection' if m.group(2) == 'proj' else 'norm'
            out[f'layers.{int(m.group(1)) - 1}.0.{part}.{m.group(3)}'] = value
            continue
        m = re.match(r'norm(\d)\.(weight|bias)$', key)
        if m:
            out[f'layers.{int(m.group(1)) - 1}.2.{m.group(2)}'] = value
            continue
        m = re.match(r'block(\d)\.(\d+)\.(.+)$', key)
        if not m:
            raise KeyError(f'unexpected key in an NVlabs MiT checkpoint: '
                           f'{key}')
        s, j, rest = int(m.group(1)) - 1, int(m.group(2)), m.group(3)
        if rest.startswith('attn.q.'):
            kv = state_dict[f'block{s + 1}.{j}.attn.kv.' + rest[7:]]
            out[_block_key(s, j, 'attn.attn.in_proj_' + rest[7:])] = \
                torch.cat([value, kv], dim=0)
        elif rest.startswith('attn.kv.'):
            continue  # merged with q above
        elif rest.startswith('attn.proj.'):
            out[_block_key(s, j, 'attn.attn.out_proj.' + rest[10:])] = value
        elif rest.startswith(('attn.sr.', 'attn.norm.', 'norm1.', 'norm2.')):
            out[_block_key(s, j, rest)] = value
        elif rest.startswith('mlp.fc1.'):
            out[_block_key(s, j, 'ffn.layers.0.' + rest[8:])] = \
                _as_conv1x1(value)
        elif rest.startswith('mlp.dwconv.dwconv.'):
            out[_block_key(s, j, 'ffn.layers.1.' + rest[18:])] = value
        elif rest.startswith('mlp.fc2.'):
            out[_block_key(s, j, 'ffn.layers.4.' + rest[8:])] = \
                _as_conv1x1(value)
        else:
            raise KeyError(f'unexpected key in an NVlabs MiT checkpoint: '
                           f'{key}')
    return out


def convert_hf_mit(state_dict: Dict[str, Tensor]) -> 'OrderedDict':
    """Hugging Face ``nvidia/mit-b*`` -> MMSeg MiT state dict."""
    out = OrderedDict()
    prefix = 'segformer.encoder.'
    renames = {
        'layer_norm_1.': 'norm1.',
        'layer_norm_2.': 'norm2.',
        'attention.self.sr.': 'attn.sr.',
        'attention.self.layer_norm.': 'attn.norm.',
        'attention.output.dense.': 'attn.attn.out_proj.',
        'mlp.dwconv.dwconv.': 'ffn.layers.1.',
    }
    for key, value in state_dict.items():
        if key.startswith(('classifier.', 'decode_head.')):
            continue
        if not key.startswith(prefix):
            # SegformerModel saves without the 'segformer.' prefix
            if key.startswith('encoder.'):
                key = 'segformer.' + key
            else:
                raise KeyError(f'unexpected key in a Hugging Face MiT '
                               f'checkpoint: {key}')
        rest = key[len(prefix):]
        m = re.match(r'patch_embeddings\.(\d)\.(proj|layer_norm)\.(\w+)$',
                     rest)
        if m:
            part = 'projection' if m.group(2) == 'proj' else 'norm'
            out[f'layers.{m.group(1)}.0.{part}.{m.group(3)}'] = value
            continue
        m = re.match(r'layer_norm\.(\d)\.(\w+)$', rest)
        if m:
            out[f'layers.{m.group(1)}.2.{m.group(2)}'] = value
            continue
        m = re.match(r'block\.(\d)\.(\d+)\.(.+)$', rest)
        if not m:
            raise KeyError(f'unexpected key in a Hugging Face MiT '
                           f'checkpoint: {key}')
        s, j, tail = int(m.group(1)), int(m.group(2)), m.group(3)
        if tail.startswith('attention.self.query.'):
            param = tail[len('attention.self.query.'):]
            base = f'{prefix}block.{s}.{j}.attention.self.'
            qkv = [
                _get(state_dict, base + f'{n}.{param}')
                for n in ('query', 'key', 'value')
            ]
            out[_block_key(s, j, 'attn.attn.in_proj_' + param)] = \
                torch.cat(qkv, dim=0)
            continue
        if tail.startswith(('attention.self.key.', 'attention.self.value.')):
            continue  # merged with the query above
        if tail.startswith('mlp.dense1.'):
            out[_block_key(s, j, 'ffn.layers.0.' + tail[11:])] = \
                _as_conv1x1(value)
            continue
        if tail.startswith('mlp.dense2.'):
            out[_block_key(s, j, 'ffn.layers.4.' + tail[11:])] = \
                _as_conv1x1(value)
            continue
        for old, new in renames.items():
            if tail.startswith(old):
                out[_block_key(s, j, new + tail[len(old):])] = value
                break
        else:
            raise KeyError(f'unexpected key in a Hugging Face MiT '
                           f'checkpoint: {key}')
    return out


def _get(state_dict, key):
    if key in state_dict:
        return state_dict[key]
    return state_dict[key[len('segformer.'):]]
