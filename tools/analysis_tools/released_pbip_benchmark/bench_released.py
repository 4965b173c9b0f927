"""Time the released PBIP stage-one script (train_stage_1.py) on this machine.

Run by run.sh in the same folder (see docs/performance.md), which sets
RELEASED_PBIP (a checkout of github.com/QingchenTang/PBIP; required) and
BENCH_HOME (where the data links, configs and results go; optional, default
work_dirs/released_pbip_benchmark).

An outside-in wrapper: it runs the released script itself (runpy, as
__main__, unmodified file) and only wraps things from outside:
  * torch.utils.data.DataLoader.__iter__ -> wraps the TRAINING loader's
    iterator to time iteration boundaries / sample getrusage, and to stop
    the run after WARMUP + ITERS iterations (raises BenchDone on the next
    next() call).
  * medclip.MedCLIPVisionModelViT.forward -> pass-through that counts
    images per encoder call (= FG/BG pairs) and times the encoder forward.
  * torch.Tensor.backward, PolyWarmupAdamW.step -> pass-through timers.
  * torch.cuda.synchronize -> no-op when CUDA is unavailable (only reached
    at iteration 100 in the released loop; a CPU-only process would raise
    there).
Nothing else is touched (docs/performance.md, "Against the released script").

Env: BENCH_ITERS (timed iterations), BATCH (samples_per_gpu), BENCH_OUT
(json path).
"""
import glob
import json
import math
import os
import resource
import runpy
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
# a checkout of the released code (github.com/QingchenTang/PBIP)
PBIP = os.path.abspath(os.environ['RELEASED_PBIP'])
# where the data links, configs and results go
ROOT = os.path.abspath(
    os.environ.get('BENCH_HOME',
                   os.path.join(REPO, 'work_dirs', 'released_pbip_benchmark')))
ITERS = int(os.environ.get('BENCH_ITERS', '1'))
BATCH = int(os.environ.get('BATCH', '10'))
WARMUP = 1
DEMO_TRAIN = os.environ.get('DEMO_TRAIN',
                            os.path.join(REPO, 'data', 'demo', 'training'))
DEMO_ROOT = os.path.dirname(DEMO_TRAIN.rstrip('/'))


def vmrss_kib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return -1


# ------------------------------------------------------------ data + config
def prepare_data_and_config():
    """Symlink farm of the demo patches, big enough that the run never reaches
    the end of an epoch (so the released per-epoch validate() is never
    triggered and no StopIteration/re-iter happens inside the timed window)."""
    srcs = sorted(glob.glob(os.path.join(DEMO_TRAIN, '*.png')))
    assert srcs, 'no demo training patches in ' + DEMO_TRAIN
    # +3: never hit the epoch end / eval_iters
    need = BATCH * (WARMUP + ITERS + 3)
    reps = max(1, math.ceil(need / len(srcs)))
    n = reps * len(srcs)
    farm = os.path.join(ROOT, 'data', f'train_rep{n}')
    if not os.path.isdir(farm) or len(os.listdir(farm)) != n:
        os.makedirs(farm, exist_ok=True)
        for r in range(reps):
            for s in srcs:
                dst = os.path.join(farm, f'r{r}_' + os.path.basename(s))
                if not os.path.lexists(dst):
                    os.symlink(s, dst)
    valroot = os.path.join(ROOT, 'data', 'valroot')
    os.makedirs(valroot, exist_ok=True)
    for split_name, src in (('valid', 'val'), ('test', 'test')):
        dst = os.path.join(valroot, split_name)
        if not os.path.lexists(dst) and os.path.isdir(
                os.path.join(DEMO_ROOT, src)):
            os.symlink(os.path.join(DEMO_ROOT, src), dst)

    from omegaconf import OmegaConf
    cfg = OmegaConf.load(
        os.path.join(PBIP, 'work_dirs/bcss/classification/config.yaml'))
    cfg.dataset.train_root = farm  # was ./data/BCSS-WSSS/train
    cfg.dataset.val_root = valroot + '/'  # was ./data/BCSS-WSSS/
    cfg.train.samples_per_gpu = BATCH  # released: 10
    wd = os.path.join(ROOT, 'work_dirs', f'bench_b{BATCH}')
    os.makedirs(wd, exist_ok=True)
    cfg_path = os.path.join(wd, 'config.yaml')
    OmegaConf.save(cfg, cfg_path)
    return cfg_path, n


# ---------------------------------------------------------- instrumentation
class BenchDone(BaseException):
    pass


ST = {
    'bound_t': [],
    'bound_ru': [],
    'bound_rss': [],
    'data_ready_t': [],
    'enc_calls': [],
    'bw': [],
    'step': [],
    'vision_model': None,
    'optimizer': None,
}


def cur_iter():
    return len(ST['bound_t']) - 1  # index of iteration in progress


class TimedTrainIter:

    def __init__(self, it):
        self.it = it

    def __iter__(self):
        return self

    def __next__(self):
        t = time.perf_counter()
        ST['bound_t'].append(t)
        ST['bound_ru'].append(resource.getrusage(resource.RUSAGE_SELF))
        ST['bound_rss'].append(vmrss_kib())
        if len(ST['bound_t']) == WARMUP + ITERS + 1:
            raise BenchDone()
        b = next(self.it)
        ST['data_ready_t'].append(time.perf_counter())
        return b


def install_patches():
    import torch
    import torch.utils.data as tud
    # (1) timing/stop wrapper around the training loader's iterator only
    from datasets.bcss import BCSSTrainingDataset
    orig_iter = tud.DataLoader.__iter__

    def patched_iter(self):
        it = orig_iter(self)
        if isinstance(self.dataset,
                      BCSSTrainingDataset) and self.batch_size == BATCH:
            return TimedTrainIter(it)
        return it

    tud.DataLoader.__iter__ = patched_iter

    # (2) count images through the frozen prototype encoder (pass-through)
    import medclip
    VM = medclip.MedCLIPVisionModelViT
    orig_fwd = VM.forward

    def counted_forward(self, pixel_values, project=True):
        ST['vision_model'] = self
        t0 = time.perf_counter()
        out = orig_fwd(self, pixel_values, project=project)
        ST['enc_calls'].append(
            (cur_iter(), int(pixel_values.shape[0]), time.perf_counter() - t0,
             bool(torch.is_grad_enabled()), bool(out.requires_grad)))
        return out

    VM.forward = counted_forward

    # (3) pass-through timers for backward and optimizer step
    orig_backward = torch.Tensor.backward

    def timed_backward(self, *a, **k):
        t0 = time.perf_counter()
        r = orig_backward(self, *a, **k)
        ST['bw'].append((cur_iter(), t0, time.perf_counter() - t0))
        return r

    torch.Tensor.backward = timed_backward

    import utils.optimizer as uopt
    orig_step = uopt.PolyWarmupAdamW.step

    def timed_step(self, closure=None):
        ST['optimizer'] = self
        t0 = time.perf_counter()
        r = orig_step(self, closure)
        ST['step'].append((cur_iter(), time.perf_counter() - t0))
        return r

    uopt.PolyWarmupAdamW.step = timed_step

    # (4) CPU-only: torch.cuda.synchronize() (released loop calls it every
    # 100 iters) -> no-op
    if not torch.cuda.is_available():
        torch.cuda.synchronize = lambda *a, **k: None


# ------------------------------------------------------------------- report
def report(n_train_files, cfg_path, wall_total):
    import torch
    nb = len(ST['bound_t'])
    n_done = nb - 1
    iters = []
    for i in range(n_done):
        t0, t1 = ST['bound_t'][i], ST['bound_t'][i + 1]
        ru0, ru1 = ST['bound_ru'][i], ST['bound_ru'][i + 1]
        enc = [c for c in ST['enc_calls'] if c[0] == i]
        bw = [b for b in ST['bw'] if b[0] == i]
        stp = [s for s in ST['step'] if s[0] == i]
        data_wait = ST['data_ready_t'][i] - t0
        fwd = (bw[0][1] - ST['data_ready_t'][i]) if bw else float('nan')
        iters.append({
            'iter': i,
            'warmup': i < WARMUP,
            'sec': t1 - t0,
            'data_wait_s': data_wait,
            'fwd_incl_encoder_s': fwd,
            'encoder_fwd_s': sum(c[2] for c in enc),
            'backward_s': sum(b[2] for b in bw),
            'opt_step_s': sum(s[1] for s in stp),
            'encoder_calls': len(enc),
            'encoder_images': [c[1] for c in enc],
            'fgbg_pairs': enc[0][1] if enc else 0,
            'minflt': ru1.ru_minflt - ru0.ru_minflt,
            'majflt': ru1.ru_majflt - ru0.ru_majflt,
            'vmrss_end_mib': ST['bound_rss'][i + 1] / 1024.0,
        })
    timed = [it for it in iters if not it['warmup']]

    def mean(xs):
        return sum(xs) / len(xs) if xs else float('nan')

    spi = mean([it['sec'] for it in timed])
    ru_end = resource.getrusage(resource.RUSAGE_SELF)
    vm = ST['vision_model']
    vm_params = list(vm.parameters()) if vm is not None else []
    opt = ST['optimizer']
    opt_ids = {id(p)
               for g in opt.param_groups
               for p in g['params']} if opt is not None else set()
    enc_calls = ST['enc_calls']
    res = {
        'glibc_tunables': os.environ.get('GLIBC_TUNABLES', ''),
        'batch': BATCH,
        'timed_iters': len(timed),
        'warmup_iters': WARMUP,
        'torch_threads': torch.get_num_threads(),
        'torch': torch.__version__,
        'dataloader_num_workers_released': min(10, os.cpu_count()),
        'train_files': n_train_files,
        'config': cfg_path,
        'sec_per_iter_mean': spi,
        'sec_per_iter_min': min([it['sec'] for it in timed],
                                default=float('nan')),
        'sec_per_iter_max': max([it['sec'] for it in timed],
                                default=float('nan')),
        'images_per_s': BATCH / spi if timed else float('nan'),
        'fgbg_pairs_per_iter_mean': mean([it['fgbg_pairs'] for it in timed]),
        'fgbg_pairs_per_iter': [it['fgbg_pairs'] for it in iters],
        'encoder_calls_per_iter': [it['encoder_calls'] for it in iters],
        'minflt_per_iter_mean': mean([it['minflt'] for it in timed]),
        'minflt_per_iter': [it['minflt'] for it in iters],
        'peak_rss_mib': ru_end.ru_maxrss / 1024.0,
        'peak_rss_before_first_iter_mib': ST['bound_ru'][0].ru_maxrss / 1024.0,
        'encoder_params': len(vm_params),
        'encoder_params_with_grad': sum(p.grad is not None for p in vm_params),
        'encoder_params_requires_grad':
        sum(p.requires_grad for p in vm_params),
        'encoder_params_in_optimizer':
        sum(id(p) in opt_ids for p in vm_params),
        'encoder_grad_enabled_in_forward': all(c[3] for c in enc_calls),
        'encoder_output_requires_grad': all(c[4] for c in enc_calls),
        'wall_total_s': wall_total,
        'per_iter': iters,
    }
    print('\n================ RELEASED PBIP stage-1 CPU benchmark'
          ' ================')
    tunables = res['glibc_tunables']
    n_workers = res['dataloader_num_workers_released']
    print(f"GLIBC_TUNABLES='{tunables}'  batch={BATCH}  warm-up={WARMUP}"
          f'  timed iters={len(timed)}'
          f"  torch threads={res['torch_threads']}"
          f'  dataloader num_workers(released)={n_workers}')
    for it in iters:
        tag = ' (warm-up)' if it['warmup'] else ''
        print(f"  iter {it['iter']}{tag}: {it['sec']:.3f} s"
              f" [data {it['data_wait_s']:.3f}"
              f" | fwd {it['fwd_incl_encoder_s']:.3f}"
              f" (encoder {it['encoder_fwd_s']:.3f})"
              f" | bwd {it['backward_s']:.3f}"
              f" | step {it['opt_step_s']:.3f}]"
              f" pairs={it['fgbg_pairs']}"
              f" enc_imgs={it['encoder_images']}"
              f" minflt={it['minflt']}"
              f" rss={it['vmrss_end_mib']:.0f}MiB")
    print(f'seconds/iter (mean over timed): {spi:.4f}')
    print(f"images/s: {res['images_per_s']:.3f}")
    print('FG/BG pairs per iter (mean over timed): '
          f"{res['fgbg_pairs_per_iter_mean']:.2f}"
          '  -> encoder images per iter = 2 x pairs')
    print(f"peak RSS (ru_maxrss): {res['peak_rss_mib']:.1f} MiB"
          '  (before first iter: '
          f"{res['peak_rss_before_first_iter_mib']:.1f} MiB)")
    print('minor page faults per iter (mean over timed): '
          f"{res['minflt_per_iter_mean']:.0f}")
    print(f"encoder params: {res['encoder_params']}"
          f", requires_grad: {res['encoder_params_requires_grad']}"
          f", with .grad after run: {res['encoder_params_with_grad']}"
          f", in optimizer: {res['encoder_params_in_optimizer']}")
    summary = {k: v for k, v in res.items() if k != 'per_iter'}
    print('RESULT_JSON ' + json.dumps(summary))
    out = os.environ.get('BENCH_OUT')
    if out:
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, 'w') as f:
            json.dump(res, f, indent=1)
        print('full results ->', out)


def main():
    os.chdir(PBIP)  # released code opens ./pretrained/... and ./features/...
    sys.path.insert(0, PBIP)
    cfg_path, n = prepare_data_and_config()
    install_patches()
    sys.argv = [
        os.path.join(PBIP, 'train_stage_1.py'), '--config', cfg_path, '--gpu',
        '0'
    ]
    t0 = time.perf_counter()
    try:
        runpy.run_path(sys.argv[0], run_name='__main__')
        print('WARNING: released script ended without reaching the'
              ' iteration budget')
    except BenchDone:
        pass
    except Exception as e:  # the released loop failing (e.g. no FG/BG pair)
        print(f'WARNING: released script stopped in iteration '
              f'{cur_iter() + 1}: {type(e).__name__}: {e}; reporting the '
              'iterations it completed')
    wall = time.perf_counter() - t0
    report(n, cfg_path, wall)


if __name__ == '__main__':
    main()
