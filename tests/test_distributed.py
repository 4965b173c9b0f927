"""Two CPU processes on gloo through torchrun and MMEngine's launcher:

training, testing, and sharded bank encoding and pseudo-label generation
identical to one process.
"""
import filecmp
import os
import os.path as osp
import re
import socket
import sys

import torch
from utils import (PBIP_DEMO, REPO, STAGE2_DEMO, cfg_options, run,
                   tiny_pbip_options, tiny_segformer_options,
                   tiny_stage2_options)

from mmseg_pbip.utils import safe_load

# torchrun gives each process one thread; the reference runs get the same,
# so that every batch is computed with the same kernels.
THREADS = {'OMP_NUM_THREADS': '1'}


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def script(name, args):
    """``bash tools/<name> ARGS`` with this interpreter, on a free port."""
    return run(
        [osp.join('tools', name)] + args,
        interpreter='bash',
        env=dict(PYTHON=sys.executable, PORT=free_port(), **THREADS))[1]


def options(demo_root, work_dir, max_iters=2):
    opts = tiny_pbip_options(demo_root, work_dir, max_iters)
    opts['custom_hooks.1.batch_size'] = 3  # several batches per class
    return opts


def test_bank_encoding_sharded_identical(demo_root, tmp_path):
    opts = options(demo_root, str(tmp_path))
    one, two = str(tmp_path / 'one.pth'), str(tmp_path / 'two.pth')
    run(['tools/build_image_bank.py', PBIP_DEMO, '--out', one] +
        cfg_options(opts),
        env=THREADS)
    out = script('dist_run.sh',
                 ['build_image_bank.py', '2', PBIP_DEMO, '--out', two] +
                 cfg_options(opts))
    assert out.count('prototypes (') == 1  # rank 0 reports and writes
    a, b = safe_load(one), safe_load(two)
    assert torch.equal(a['prototypes'], b['prototypes'])
    assert a['cluster_members'] == b['cluster_members']
    assert a['encoder_fingerprint'] == b['encoder_fingerprint']


def test_train_test_and_pseudo_labels_on_two_processes(demo_root, tmp_path):
    work_dir = str(tmp_path / 'work')
    opts = options(demo_root, work_dir)
    out = script('dist_train.sh', [PBIP_DEMO, '2'] + cfg_options(opts))
    assert re.search(r'Distributed training: True', out)
    assert 'GPU number: 2' in out or 'world_size: 2' in out
    ckpt = osp.join(work_dir, 'iter_2.pth')
    assert safe_load(ckpt)['meta']['iter'] == 2

    out = script('dist_test.sh',
                 [PBIP_DEMO, ckpt, '2', '--work-dir',
                  str(tmp_path / 'test')] + cfg_options(opts))
    assert re.search(r'mIoU: \d+\.\d+', out)

    one, two = str(tmp_path / 'one'), str(tmp_path / 'two')
    gen = [PBIP_DEMO, ckpt, '--batch-size', '3'] + cfg_options(opts)
    run(['tools/generate_pseudo_labels.py', '--out-dir', one] + gen,
        env=THREADS)
    out = script('dist_run.sh',
                 ['generate_pseudo_labels.py', '2', '--out-dir', two] + gen)
    assert '32 pseudo labels (32 written, 0 already there)' in out
    names = sorted(os.listdir(one))
    assert len(names) == 32 and names == sorted(os.listdir(two))
    _, mismatch, errors = filecmp.cmpfiles(one, two, names, shallow=False)
    assert not mismatch and not errors

    # stage two on them: its SyncBN runs as BN on CPU processes
    work2 = str(tmp_path / 'stage2')
    out = script('dist_train.sh', [STAGE2_DEMO, '2'] +
                 cfg_options(tiny_stage2_options(demo_root, work2, two)))
    assert 'SyncBN layers run as BN' in out
    assert safe_load(osp.join(work2, 'iter_2.pth'))['meta']['iter'] == 2


def test_pscl_on_two_processes(demo_root, tmp_path):
    """Every trainable PSCL parameter takes part in the loss (DDP)."""
    work_dir = str(tmp_path / 'pscl')
    opts = {
        k: v
        for k, v in tiny_segformer_options(demo_root, work_dir).items()
        if not k.startswith('model.')
    }
    opts.update({
        'model.data_preprocessor.size': (64, 64),
        'model.tta_flips': [False]
    })
    script('dist_train.sh', [
        osp.join(REPO, 'configs', 'pscl', 'pscl_swin-mini_1xb8-150'
                 'iters_demo-224x224.py'), '2'
    ] + cfg_options(opts))
    assert safe_load(osp.join(work_dir, 'iter_2.pth'))['meta']['iter'] == 2


LEAVE_SCRIPT = '''
import sys
import time

import torch
import torch.distributed as dist

sys.path.insert(0, sys.argv[1])
from _tool_config import init_launcher, leave_process_group

init_launcher('pytorch')
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(8, 8))
model(torch.randn(4, 8)).sum().backward()
dist.all_reduce(torch.ones(100))
rank = dist.get_rank()
if rank == 0:  # the other process reaches the end first
    time.sleep(0.2)
model.cycle = model  # freed by gc only, as a Runner is
del model
leave_process_group()
with open(f'{sys.argv[2]}/rank{rank}.txt', 'w') as f:
    f.write(str(dist.is_initialized()))
'''


def test_finished_processes_leave_the_group(tmp_path):
    """A finished two-process run leaves its gloo group before the
    interpreter exits: no process aborts at exit (without
    ``leave_process_group`` 17 of 60 runs of a script like this aborted here:
    "terminate called without an active exception", and torchrun then
    reports the run as failed)."""
    path = tmp_path / 'leave.py'
    path.write_text(LEAVE_SCRIPT)
    for _ in range(3):  # each run exits 0 (else run() raises)
        run([
            '-m', 'torch.distributed.run', '--nproc_per_node=2',
            f'--master_port={free_port()}',
            str(path),
            osp.join(REPO, 'tools'),
            str(tmp_path)
        ],
            env=THREADS)
        for rank in (0, 1):  # and has left the group
            assert (tmp_path / f'rank{rank}.txt').read_text() == 'False'
            (tmp_path / f'rank{rank}.txt').unlink()
