"""Build a config's image bank (prototype file) ahead of training.

    python tools/build_image_bank.py CONFIG [--out FILE] [--device cuda]
        [--cfg-options k=v ...]
    torchrun --nproc_per_node N tools/build_image_bank.py CONFIG \
        --launcher pytorch


Reads the config's training split (single-label patches, labels from file
names or masks) and its ``model.image_encoder``; writes the file named by the
config's ``ImageBankHook`` (default ``<work_dir>/image_bank.pth``, or
``--out``), atomically. Training loads that
file instead of building it. With ``--launcher``, the N processes share the
reading and encoding (batches dealt round-robin, one GPU each when there are
GPUs, gloo on CPUs) and rank 0 writes a bank identical to a one-process
build.
"""
import argparse
import os.path as osp
import time

import torch
from _tool_config import (init_launcher, leave_process_group, load_tool_config,
                          local_device, tool_work_dir)
from mmengine.config import DictAction
from mmengine.dist import barrier, is_main_process
from mmseg.registry import HOOKS, MODELS

import mmseg_pbip  # noqa: F401
from mmseg_pbip.engine.hooks import bank_from_config
from mmseg_pbip.image_bank import save_image_bank


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--out', help='bank file (default: the hook\'s)')
    parser.add_argument(
        '--device', help='default: this process\'s GPU, else the CPU')
    parser.add_argument(
        '--launcher',
        default='none',
        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    cfg = load_tool_config(args.config, args.cfg_options)
    init_launcher(args.launcher, cfg)
    hooks = [
        h for h in cfg.get('custom_hooks', [])
        if h.get('type') == 'ImageBankHook'
    ]
    if not hooks and not args.out:
        raise SystemExit(f'{args.config}: no ImageBankHook in custom_hooks; '
                         'give --out')
    hook = HOOKS.build(
        hooks[0] if hooks else dict(type='ImageBankHook', bank_file=args.out))
    out = args.out or hook.bank_file or osp.join(
        tool_work_dir(cfg, args.config), 'image_bank.pth')
    encoder = MODELS.build(cfg.model.image_encoder).to(
        local_device(args.device))
    # the bank must suit the model that will read it (ImageBankHook's rules)
    match_loss = cfg.model.get('match_loss')
    hook.check_model(encoder, MODELS.build(match_loss) if match_loss else None)
    start = time.time()
    bank = bank_from_config(cfg, encoder, **hook.settings)
    if is_main_process():
        save_image_bank(out, bank)
        print(f'{out}: prototypes {tuple(bank["prototypes"].shape)}, '
              f'k_per_class {bank["k_per_class"]}, encoder '
              f'{bank["encoder"]}, {time.time() - start:.1f} s')
    barrier()


if __name__ == '__main__':
    with torch.no_grad():
        main()
    leave_process_group()
