"""Training (or inference) throughput of a config, with where the time goes.

    python tools/analysis_tools/benchmark_train.py CONFIG [--iters 20]
        [--warmup 3] [--mode train|test|pseudo] [--profile DIR]
        [--cfg-options k=v ...]

Builds the config's runner (model, data, optimiser, and the image bank via
the config's hooks) and runs ``--warmup`` untimed then ``--iters`` timed
steps of ``--mode``:

- ``train``: the steps of ``BaseModel.train_step`` one by one (data,
  preprocessing, forward with its losses, backward, optimiser) and the
  runner's iteration hooks, with the forward split into backbone, head,
  FG/BG image construction, frozen-encoder forward and the rest of the
  losses (module hooks; on a GPU each phase is synchronised);
- ``test``: ``test_step`` on the test loader (the config's test-time views);
- ``pseudo``: ``predict`` on the training split through
  ``pseudo_label_pipeline``, test-time views only when the config sets
  ``pseudo_label_tta`` (as ``tools/generate_pseudo_labels.py``).

Prints images/s, seconds per iteration, a phase table (seconds per
iteration and share), FG/BG pairs per iteration (PBIP; figures per pair
follow), peak memory (``torch.cuda.max_memory_allocated`` on a GPU, else the
process's peak resident set) and minor / major page faults per iteration.
``--profile DIR`` runs one more iteration under ``torch.profiler`` and
writes ``DIR/trace.json`` (Chrome trace) and the top operators. Runs on the
GPU when one is visible. The memory allocator setting of the project's
tools applies (``MMSEG_PBIP_MALLOC``, see ``tools/_allocator.py``).
"""
import argparse
import os
import os.path as osp
import resource
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager

import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.runner import Runner

import mmseg_pbip  # noqa: F401
from mmseg_pbip.apis.pseudo_labels import DEFAULT_PSEUDO_LABEL_PIPELINE
from mmseg_pbip.models.segmentors import without_test_views

# the tools' shared modules (_allocator) are in tools/; appended, so that
# nothing there shadows an installed module
sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))
from _allocator import allocator_settings, keep_freed_memory  # noqa: E402


class PhaseTimer:
    """Wall time per named phase, summed over the timed iterations."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.totals = defaultdict(float)
        self.active = False
        self._starts = {}

    def _now(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    @contextmanager
    def phase(self, name: str):
        start = self._now()
        try:
            yield
        finally:
            if self.active:
                self.totals[name] += self._now() - start

    def time_module(self, module: torch.nn.Module, name: str) -> None:
        """Add ``module``'s forward time to ``name``."""

        def pre(*_):
            self._starts[name] = self._now()

        def post(*_):
            if self.active and name in self._starts:
                self.totals[name] += self._now() - self._starts.pop(name)

        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)

    def time_method(self, owner, attr: str, name: str) -> None:
        """Add the time of ``owner.attr(...)`` calls to ``name``."""
        method = getattr(owner, attr)

        def timed(*args, **kwargs):
            with self.phase(name):
                return method(*args, **kwargs)

        setattr(owner, attr, timed)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument(
        '--mode', choices=['train', 'test', 'pseudo'], default='train')
    parser.add_argument('--profile', help='folder for a profiler trace')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def build_runner(args) -> Runner:
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = cfg.get('work_dir') or tempfile.mkdtemp(prefix='bench-')
    if args.mode == 'pseudo' and not cfg.get('pseudo_label_tta', False):
        cfg.model = without_test_views(cfg.model)  # as pseudo labels run
    runner = Runner.from_cfg(cfg)
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    # what Runner.train() sets up before its loop
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    if runner.param_schedulers is not None:
        runner.param_schedulers = runner.build_param_scheduler(
            runner.param_schedulers)
    runner.call_hook('before_run')
    runner._init_model_weights()
    runner.optim_wrapper.initialize_count_status(runner.model, 0,
                                                 runner.train_loop.max_iters)
    if args.mode == 'train':  # the hooks' state of a real training run
        runner.call_hook('before_train')
        runner.call_hook('before_train_epoch')
    return runner


def batches(runner: Runner, mode: str):
    """Endless batches of the mode's data."""
    if mode == 'pseudo':
        cfg = runner.cfg
        ds_cfg = cfg.train_dataloader.dataset.copy()
        ds_cfg['pipeline'] = cfg.get('pseudo_label_pipeline') or \
            DEFAULT_PSEUDO_LABEL_PIPELINE
        from mmseg.registry import DATASETS
        dataset = DATASETS.build(ds_cfg)
        size = runner.cfg.train_dataloader.batch_size
        while True:
            for start in range(0, len(dataset) - size + 1, size):
                yield pseudo_collate(
                    [dataset[i] for i in range(start, start + size)])
    if mode == 'train':
        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator'):  # IterBasedTrainLoop's own
            iterator = loop.dataloader_iterator
            while True:
                yield next(iterator)
        while True:  # EpochBasedTrainLoop: epoch after epoch
            yield from loop.dataloader
    while True:
        yield from runner.test_dataloader


def instrument(model, timer: PhaseTimer, counts: dict) -> None:
    """Time the model's parts; count FG/BG pairs."""
    for attr, name in (('backbone', 'backbone forward'),
                       ('head', 'head forward'), ('image_encoder',
                                                  'encoder forward (FG/BG)')):
        if hasattr(model, attr):
            timer.time_module(getattr(model, attr), name)
    match_loss = getattr(model, 'match_loss', None)
    if match_loss is not None:
        timer.time_method(match_loss, 'masked_images',
                          'FG/BG image construction')
    if hasattr(model, 'select_pairs'):
        select = model.select_pairs

        def counted(*args, **kwargs):
            pairs = select(*args, **kwargs)
            if timer.active:
                counts['pairs'] += pairs.shape[0]
            return pairs

        model.select_pairs = counted


def train_iteration(runner, model, data, timer, index) -> None:
    """One ``train_step``, phase by phase, with the iteration hooks."""
    optim = runner.optim_wrapper
    with timer.phase('hooks'):
        runner.call_hook('before_train_iter', batch_idx=index, data_batch=data)
    # as BaseModel.train_step: autocast etc. of the optimiser wrapper
    with optim.optim_context(model):
        with timer.phase('preprocessing'):
            data = model.data_preprocessor(data, True)
        with timer.phase('forward (all)'):
            losses = model._run_forward(data, mode='loss')
            parsed, log_vars = model.parse_losses(losses)
    with timer.phase('backward'):
        optim.backward(parsed)
    with timer.phase('optimiser'):
        optim.step()
        optim.zero_grad()
    with timer.phase('hooks'):
        runner.call_hook(
            'after_train_iter',
            batch_idx=index,
            data_batch=data,
            outputs=log_vars)
    runner.train_loop._iter += 1  # as IterBasedTrainLoop.run_iter


def main():
    args = parse_args()
    keep_freed_memory()  # as the training tools do, before the model exists
    runner = build_runner(args)
    model = runner.model
    cuda = next(model.parameters()).is_cuda
    timer = PhaseTimer(cuda)
    counts = defaultdict(int)
    if args.mode == 'train':  # inference is one phase
        instrument(model, timer, counts)
    source = batches(runner, args.mode)
    batch_size = None

    def step(i):
        nonlocal batch_size
        with timer.phase('data wait'):
            data = next(source)
        batch_size = len(data['inputs'])
        if args.mode == 'train':
            model.train()
            train_iteration(runner, model, data, timer, i)
        else:
            model.eval()
            with torch.no_grad(), timer.phase('inference'):
                model.test_step(data)

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    for i in range(args.warmup):
        step(i)
    faults0 = resource.getrusage(resource.RUSAGE_SELF)
    timer.active = True
    start = timer._now()
    for i in range(args.warmup, args.warmup + args.iters):
        step(i)
    elapsed = timer._now() - start
    timer.active = False
    faults1 = resource.getrusage(resource.RUSAGE_SELF)
    if cuda:
        device = torch.cuda.get_device_name()
        peak = torch.cuda.max_memory_allocated() / 2**20
        peak_what = 'GPU memory allocated'
    else:
        device = f'CPU ({torch.get_num_threads()} threads)'
        peak = faults1.ru_maxrss / 1024
        peak_what = 'resident set (whole process)'
    n = args.iters
    print(f'config: {args.config} ({args.mode})')
    print(f'device: {device}; batch size {batch_size}; {n} timed '
          f'iterations after {args.warmup} warm-up; data-loader workers '
          f'{runner.cfg.train_dataloader.get("num_workers", 0)}; '
          f'allocator: {allocator_settings()}')
    print(f'throughput: {batch_size * n / elapsed:.3f} images/s '
          f'({elapsed / n:.3f} s/iter)')
    totals = dict(timer.totals)
    if args.mode == 'train':
        inner = sum(
            totals.get(k, 0.)
            for k in ('backbone forward', 'head forward',
                      'FG/BG image construction', 'encoder forward (FG/BG)'))
        totals['losses (rest of forward)'] = \
            totals.pop('forward (all)', 0.) - inner
    totals['other'] = elapsed - sum(totals.values())
    print(f'{"phase":28s} {"s/iter":>8s} {"share":>7s}')
    for name, seconds in totals.items():
        print(f'{name:28s} {seconds / n:8.3f} {100 * seconds / elapsed:6.1f}%')
    if counts['pairs']:
        pairs = counts['pairs'] / n
        print(f'FG/BG pairs: {pairs:.1f} per iteration; '
              f'{elapsed / n / pairs:.3f} s per pair')
    print(f'peak memory: {peak:.0f} MiB {peak_what}')
    print(f'page faults per iteration: '
          f'{(faults1.ru_minflt - faults0.ru_minflt) / n:.0f} minor, '
          f'{(faults1.ru_majflt - faults0.ru_majflt) / n:.0f} major')
    if args.profile:
        from torch.profiler import ProfilerActivity, profile
        os.makedirs(args.profile, exist_ok=True)
        activities = [ProfilerActivity.CPU
                      ] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities, record_shapes=True) as prof:
            step(args.warmup + n)
        trace = osp.join(args.profile, 'trace.json')
        prof.export_chrome_trace(trace)
        print(prof.key_averages().table(
            sort_by='self_cuda_time_total' if cuda else 'self_cpu_time_total',
            row_limit=15))
        print(f'profiler trace: {trace}')


if __name__ == '__main__':
    main()
