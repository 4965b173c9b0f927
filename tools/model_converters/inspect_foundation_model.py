"""Check a downloaded foundation-model checkpoint and say how to use it.

    python tools/model_converters/inspect_foundation_model.py PATH
        [--arch uni|uni2-h|virchow2|h-optimus-0|h-optimus-1|phikon|
                phikon-v2|conch]
        [--out CLEAN.pth]

PATH: the file you downloaded (``pytorch_model.bin``, ``*.pth``,
``model.safetensors``) or its folder (Hugging Face layout for Phikon /
Phikon-v2). The file is read with safe loading only (memory-mapped where
torch allows) and compared, key by key and shape by shape, with every
supported architecture built on the meta device (no weights allocated), or
with ``--arch`` only. Prints the number of missing / unexpected /
shape-mismatched keys of each (and the keys of the closest one when none
matches), the architectures that match, and the config lines that use the
file as prototype encoder and as backbone. For Phikon / Phikon-v2 the
folder's ``config.json``, when present, is the configuration (as the
encoder builds it); its values that differ from the published ones are
printed as notes. ``--out`` writes the tensors
under the keys our modules load (prefixes such as ``module.`` removed, other
towers dropped), atomically. Exit status 0 when an architecture matches, 1
otherwise.
"""
import argparse
import os.path as osp
import sys

import torch

import mmseg_pbip  # noqa: F401
from mmseg_pbip.utils import atomic_path, find_weight_file, read_state_dict

from mmseg_pbip.models.utils.foundation_models import (  # isort: skip
    FOUNDATION_MODELS, build_foundation_model, compare_state_dicts,
    format_mismatch, foundation_spec, hf_config_differences, normalise_keys,
    read_hf_config)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('path', help='weight file or folder')
    parser.add_argument(
        '--arch',
        choices=sorted(FOUNDATION_MODELS),
        help='compare with this architecture only')
    parser.add_argument('--out', help='write the matched weights here')
    return parser.parse_args()


def expected_shapes(spec: dict, folder: str) -> dict:
    """Key -> shape of the architecture, built on the meta device (for Phikon /
    Phikon-v2 from the folder's ``config.json`` when present, as the encoder
    builds it)."""
    with torch.device('meta'):
        model = build_foundation_model(spec, checkpoint=folder, report=False)
    return {k: v.shape for k, v in model.state_dict().items()}


def usage(arch: str, path: str) -> str:
    """The config lines that use ``path`` as ``arch``."""
    spec = FOUNDATION_MODELS[arch]
    lines = [
        f"prototype encoder: {spec['config']}",
        '  (or any PBIP config inheriting configs/_base_/models/'
        'pbip_mit-b1_uni.py, with)',
        f"  model.image_encoder.arch='{arch}'",
        f"  model.image_encoder.checkpoint='{path}'",
        f"  (features: {spec['feature_dim']}-d, {spec['pooling']}; input "
        f"{spec['input_size']} px)",
    ]
    lines += [
        'CAM backbone (inherit configs/_base_/models/'
        'pbip_uni-vitl16_uni.py):',
        f"  model.backbone.arch='{arch}'",
        f"  model.backbone.checkpoint='{path}'",
        '  model.backbone.out_indices=None  (4 evenly spaced of '
        f"{spec['depth']} blocks)",
        f"  model.head.in_channels=[{spec['embed_dim']}] * 4",
        '  model.data_preprocessor.mean='
        f"{[round(m * 255, 4) for m in spec['mean']]}",
        '  model.data_preprocessor.std='
        f"{[round(s * 255, 4) for s in spec['std']]}",
    ]
    lines.append(f"  licence: {spec['licence']}")
    return '\n'.join(lines)


def check_arch(arch: str, state: dict, folder: str):
    """Compare the file with one architecture.

    Returns:
        tuple: The report (missing / unexpected / mismatched keys, and a
        ``config.json`` of another model type), the notes (``config.json``
        values that differ from the published ones: the model is built with
        them, so they are said, not counted as a mismatch), the file's
        tensors under our keys and the keys of other towers ignored.
    """
    spec = foundation_spec(arch)
    notes = []
    try:
        config = read_hf_config(spec, folder)
    except ValueError as e:  # e.g. a Phikon-v2 folder checked as Phikon
        return dict(config_json=[str(e)]), notes, {}, []
    if config is not None:
        notes = hf_config_differences(spec, config)
    expected = expected_shapes(spec, folder)
    own, ignored = normalise_keys(spec, state)
    return compare_state_dicts(expected, own), notes, own, ignored


def main():
    args = parse_args()
    file = find_weight_file(args.path)
    try:
        try:
            state = read_state_dict(file, mmap=True)
        except ValueError:  # legacy (non-zip) torch files cannot be mapped
            state = read_state_dict(file)
    except ValueError as e:  # unsafe, corrupt or not a state dict
        print(e)
        return 1
    print(f'{file}: {len(state)} tensors, '
          f'{sum(v.numel() for v in state.values()) / 1e6:.1f} M values')
    matches, reports = [], {}
    folder = args.path if osp.isdir(args.path) else osp.dirname(file)
    for arch in [args.arch] if args.arch else sorted(FOUNDATION_MODELS):
        try:
            report, notes, own, ignored = check_arch(arch, state, folder)
        except ImportError as e:  # conch-fork not installed
            print(f'{arch:12s} not checked: {e}')
            continue
        if any(report.values()):
            reports[arch] = report
            counts = ', '.join(f'{len(v)} {k}' for k, v in report.items() if v)
            print(f'{arch:12s} no match ({counts})')
            continue
        extra = f' ({len(ignored)} keys of other towers ignored)' \
            if ignored else ''
        print(f'{arch:12s} MATCH: {len(own)} keys, every shape equal{extra}')
        for note in notes:
            print(f'{"":12s} note: config.json differs from the published '
                  f'configuration, {note}; the model is built as '
                  'config.json says')
        matches.append((arch, own))
    if not matches:
        if reports:
            closest = min(
                reports, key=lambda a: sum(map(len, reports[a].values())))
            print(f'no supported architecture matches this file; closest: '
                  f'{closest}: {format_mismatch(reports[closest])}')
        return 1
    if len(matches) > 1:
        print('architectures with identical weights layout: '
              f'{[a for a, _ in matches]} (e.g. H-optimus-0 and -1); name '
              'the one you downloaded')
    for arch, own in matches:
        print(f'\n== {arch} ({FOUNDATION_MODELS[arch]["hub_id"]})')
        print(usage(arch, args.out or args.path))
    if args.out:
        with atomic_path(args.out) as tmp:
            torch.save({
                k: v.contiguous()
                for k, v in matches[0][1].items()
            }, tmp)
        print(f'\nwrote {args.out} ({matches[0][0]} keys)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
