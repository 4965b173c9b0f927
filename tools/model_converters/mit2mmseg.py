"""Convert NVlabs or Hugging Face MiT weights to MMSeg's MiT keys.

    python tools/model_converters/mit2mmseg.py SRC DST [--source nvlabs|hf]

SRC: NVlabs ``mit_b1.pth``, or a Hugging Face ``nvidia/mit-b1`` folder /
``pytorch_model.bin`` / ``model.safetensors``. DST: a ``.pth`` holding
``{'state_dict': ...}`` for ``init_cfg=dict(type='Pretrained',
checkpoint=DST)`` on ``MixVisionTransformer``. Written to a temporary name,
then renamed. Source files are read with safe loading only.
"""
import argparse
import sys

import torch

from mmseg_pbip.utils import atomic_path, read_state_dict
from mmseg_pbip.utils.mit_converters import convert_hf_mit, convert_nvlabs_mit


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
    convert = convert_hf_mit if source == 'hf' else convert_nvlabs_mit
    out = convert(state)
    with atomic_path(args.dst) as tmp:
        torch.save({'state_dict': out}, tmp)
    print(f'{args.src} ({source}): {len(out)} tensors -> {args.dst}')


if __name__ == '__main__':
    main()
