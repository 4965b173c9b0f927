"""Convert NVlabs or Hugging Face MiT weights to MMSeg's MiT keys.

    python tools/model_converters/mit2mmseg.py SRC DST [--source nvlabs|hf]

SRC: NVlabs ``mit_b1.pth``, or a Hugging Face ``nvidia/mit-b1`` folder /
``pytorch_model.bin`` / ``model.safetensors``. DST: a ``.pth`` holding
``{'state_dict': ...}`` for ``init_cfg=dict(type='Pretrained',
checkpoint=DST)`` on ``MixVisionTransformer``. Written to a temporary name,
then renamed. Source files are read with safe loading only.

NVlabs keys go through MMSeg's own converter (``convert_mit`` of the
``mit2mmseg.py`` that the mmseg wheel ships). Hugging Face keys are first
renamed to NVlabs' (key and value projections stacked as NVlabs' ``kv``),
then converted the same way.
"""
import argparse
import importlib.util
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Callable, Dict

import torch

from mmseg_pbip.utils import atomic_path, read_state_dict

# the tools' shared modules (_mmseg_tool) are in tools/; appended, so that
# nothing there shadows an installed module
sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))
from _mmseg_tool import mmseg_tool_path  # noqa: E402

Tensor = torch.Tensor

# Hugging Face block parameter prefix -> NVlabs (key/value handled apart)
HF_BLOCK_RENAMES = {
    'layer_norm_1.': 'norm1.',
    'layer_norm_2.': 'norm2.',
    'attention.self.query.': 'attn.q.',
    'attention.self.sr.': 'attn.sr.',
    'attention.self.layer_norm.': 'attn.norm.',
    'attention.output.dense.': 'attn.proj.',
    'mlp.dense1.': 'mlp.fc1.',
    'mlp.dwconv.dwconv.': 'mlp.dwconv.dwconv.',
    'mlp.dense2.': 'mlp.fc2.',
}


def mmseg_convert_mit() -> Callable:
    """``convert_mit`` of MMSeg's ``tools/model_converters/mit2mmseg.py``
    (shipped in the mmseg wheel under ``.mim``)."""
    path = mmseg_tool_path('model_converters/mit2mmseg.py')
    spec = importlib.util.spec_from_file_location('mmseg_mit2mmseg', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.convert_mit


def hf_to_nvlabs(state_dict: Dict[str, Tensor]) -> 'OrderedDict':
    """Hugging Face ``nvidia/mit-b*`` keys -> NVlabs ``mit_b*.pth`` keys."""
    out = OrderedDict()
    for key, value in state_dict.items():
        key = key[len('segformer.'):] if key.startswith('segformer.') \
            else key
        if key.startswith(('classifier.', 'decode_head.')):
            continue
        m = re.match(
            r'encoder\.patch_embeddings\.(\d)\.(proj|layer_norm)\.'
            r'(\w+)$', key)
        if m:
            part = 'proj' if m.group(2) == 'proj' else 'norm'
            out[f'patch_embed{int(m.group(1)) + 1}.{part}.{m.group(3)}'] = \
                value
            continue
        m = re.match(r'encoder\.layer_norm\.(\d)\.(\w+)$', key)
        if m:
            out[f'norm{int(m.group(1)) + 1}.{m.group(2)}'] = value
            continue
        m = re.match(r'encoder\.block\.(\d)\.(\d+)\.(.+)$', key)
        if not m:
            raise KeyError(
                f'unexpected key in a Hugging Face MiT checkpoint: {key}')
        block = f'block{int(m.group(1)) + 1}.{m.group(2)}.'
        tail = m.group(3)
        if tail.startswith('attention.self.key.'):
            param = tail[len('attention.self.key.'):]
            value_key = key.replace('attention.self.key.',
                                    'attention.self.value.')
            stacked = state_dict.get(value_key,
                                     state_dict.get('segformer.' + value_key))
            out[block + 'attn.kv.' + param] = torch.cat([value, stacked])
            continue
        if tail.startswith('attention.self.value.'):
            continue  # stacked with the key above
        for old, new in HF_BLOCK_RENAMES.items():
            if tail.startswith(old):
                out[block + new + tail[len(old):]] = value
                break
        else:
            raise KeyError(
                f'unexpected key in a Hugging Face MiT checkpoint: {key}')
    return out


def convert(state_dict: Dict[str, Tensor], source: str) -> 'OrderedDict':
    """MMSeg MiT state dict from an NVlabs or Hugging Face one."""
    if source == 'hf':
        state_dict = hf_to_nvlabs(state_dict)
    unknown = [
        k for k in state_dict
        if not re.match(r'(patch_embed\d|block\d|norm\d|head)\.', k)
    ]
    if unknown:
        raise KeyError(
            f'unexpected keys in an NVlabs MiT checkpoint: {unknown[:5]}')
    return mmseg_convert_mit()(state_dict)


def read_source(src):
    """The tensors of SRC (a file, or a Hugging Face folder), read safely."""
    try:
        return read_state_dict(src, what='MiT checkpoint')
    except (FileNotFoundError, ValueError) as e:
        sys.exit(str(e))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument(
        '--source',
        choices=['nvlabs', 'hf'],
        default=None,
        help='guessed from the keys when omitted')
    args = parser.parse_args()
    state = read_source(args.src)
    source = args.source or ('hf' if any(
        k.startswith(('segformer.', 'encoder.')) for k in state) else 'nvlabs')
    out = convert(state, source)
    with atomic_path(args.dst) as tmp:
        torch.save({'state_dict': out}, tmp)
    print(f'{args.src} ({source}): {len(out)} tensors -> {args.dst}')


if __name__ == '__main__':
    main()
