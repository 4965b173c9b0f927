"""Training throughput and peak memory of a config.

    python tools/analysis_tools/benchmark_train.py CONFIG [--iters 20]
        [--warmup 3] [--cfg-options k=v ...]

Builds the config's runner (model, data, optimiser, and the image bank via
the config's hooks), runs ``--warmup`` untimed then ``--iters`` timed
training steps, and prints images/second, seconds/iteration and peak memory:
``torch.cuda.max_memory_allocated`` on a GPU, the process's peak resident
set on the CPU. Runs on the GPU when one is visible.
"""
import argparse
import resource
import tempfile
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmseg_pbip  # noqa: F401


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = cfg.get('work_dir') or tempfile.mkdtemp(prefix='bench-')
    cfg.train_dataloader.persistent_workers = False
    runner = Runner.from_cfg(cfg)
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.call_hook('before_run')
    runner._init_model_weights()
    model = runner.model
    model.train()
    loader = iter(runner.train_dataloader)
    batch_size = runner.train_dataloader.batch_size
    cuda = next(model.parameters()).is_cuda
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    for i in range(args.warmup + args.iters):
        if i == args.warmup:
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
        model.train_step(next(loader), runner.optim_wrapper)
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    if cuda:
        device = torch.cuda.get_device_name()
        peak = torch.cuda.max_memory_allocated() / 2**20
        peak_what = 'GPU memory allocated'
    else:
        device = f'CPU ({torch.get_num_threads()} threads)'
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak_what = 'resident set (whole process)'
    print(f'config: {args.config}')
    print(f'device: {device}; batch size {batch_size}; {args.iters} timed '
          f'iterations after {args.warmup} warm-up')
    print(f'throughput: {batch_size * args.iters / elapsed:.2f} images/s '
          f'({elapsed / args.iters:.3f} s/iter)')
    print(f'peak memory: {peak:.0f} MiB {peak_what}')


if __name__ == '__main__':
    main()
