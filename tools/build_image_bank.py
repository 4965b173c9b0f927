"""Build a config's image bank (prototype file) ahead of training.

    python tools/build_image_bank.py CONFIG [--out FILE] [--device cuda]
        [--cfg-options k=v ...]

Reads the config's training split (single-label patches, labels from file
names or masks) and its ``model.image_encoder``; writes the file named by the
config's ``ImageBankHook`` (or ``--out``), atomically. Training loads that
file instead of building it.
"""
import argparse
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmseg.registry import HOOKS, MODELS

import mmseg_pbip  # noqa: F401
from mmseg_pbip.engine.hooks import bank_from_config
from mmseg_pbip.image_bank import save_image_bank


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--out', help='bank file (default: the hook\'s)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    hooks = [h for h in cfg.get('custom_hooks', [])
             if h.get('type') == 'ImageBankHook']
    if not hooks and not args.out:
        raise SystemExit(f'{args.config}: no ImageBankHook in custom_hooks; '
                         'give --out')
    hook = HOOKS.build(hooks[0] if hooks else dict(
        type='ImageBankHook', bank_file=args.out))
    out = args.out or hook.bank_file
    encoder = MODELS.build(cfg.model.image_encoder).to(args.device)
    start = time.time()
    bank = bank_from_config(cfg, encoder, **hook.settings)
    save_image_bank(out, bank)
    print(f'{out}: prototypes {tuple(bank["prototypes"].shape)}, '
          f'k_per_class {bank["k_per_class"]}, encoder {bank["encoder"]}, '
          f'{time.time() - start:.1f} s')


if __name__ == '__main__':
    with torch.no_grad():
        main()
