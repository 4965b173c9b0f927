"""Killed runs resume; checkpoints are never half-written; NaN stops.

Real training subprocesses (tools/train.py) on the tiny PBIP demo config.
"""
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time

import torch
from mmengine.config import Config
from utils import PBIP_DEMO, REPO, cfg_options, run, tiny_pbip_options

from mmseg_pbip.utils import safe_load

TESTS = osp.dirname(osp.abspath(__file__))


def train_args(demo_root,
               work_dir,
               max_iters,
               interval=2,
               keep=1,
               nan_at=None,
               pause_at=None,
               faults=()):
    """tools/train.py on a user config inheriting the PBIP demo config and
    importing the fault injection (custom_imports are read from files);
    ``nan_at``: iteration whose loss is made NaN; ``pause_at``: iteration
    before which the run waits to be killed; ``faults``: more fault-injection
    hooks."""
    os.makedirs(work_dir, exist_ok=True)
    config = osp.join(osp.dirname(work_dir), 'faulty_pbip.py')
    hooks = [dict(h) for h in Config.fromfile(PBIP_DEMO).custom_hooks]
    if nan_at:
        hooks.append(dict(type='PoisonWeightsHook', at_iter=nan_at))
    if pause_at:
        hooks.append(dict(type='PauseHook', at_iter=pause_at))
    hooks += list(faults)
    with open(config, 'w') as f:
        f.write(f'_base_ = [{PBIP_DEMO!r}]\n'
                "custom_imports = dict(imports=['mmseg_pbip', "
                "'fault_injection'], allow_failed_imports=False)\n"
                f'custom_hooks = {hooks!r}\n')
    opts = tiny_pbip_options(demo_root, work_dir, max_iters)
    opts.update({
        'default_hooks.checkpoint.interval': interval,
        'default_hooks.checkpoint.max_keep_ckpts': keep,
    })
    return ['tools/train.py', config] + cfg_options(opts)


def env(**kw):
    return dict(
        PYTHONPATH=os.pathsep.join(
            [TESTS] + [p for p in [os.environ.get('PYTHONPATH')] if p]),
        **kw)


def last_checkpoint(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def assert_valid_checkpoint(path, iteration):
    ckpt = safe_load(path)
    assert ckpt['meta']['iter'] == iteration
    assert all(
        torch.isfinite(v).all() for v in ckpt['state_dict'].values()
        if v.is_floating_point())


def test_killed_while_writing_a_checkpoint(demo_root, tmp_path):
    """SIGKILL half-way through writing iter_4.pth, with max_keep_ckpts=1:

    iter_2.pth must still exist and be what last_checkpoint names, no truncated
    iter_4.pth may exist, and --resume must finish the run.
    """
    work_dir = str(tmp_path / 'work')
    code, out = run(
        train_args(demo_root, work_dir, 4),
        check=False,
        env=env(MMSEG_PBIP_TEST_KILL_WRITING='iter_4.pth'))
    assert code == -signal.SIGKILL, out[-3000:]
    assert not osp.exists(osp.join(work_dir, 'iter_4.pth'))
    assert last_checkpoint(work_dir) == osp.join(work_dir, 'iter_2.pth')
    assert_valid_checkpoint(osp.join(work_dir, 'iter_2.pth'), 2)

    _, out = run(train_args(demo_root, work_dir, 4) + ['--resume'], env=env())
    assert 'resumed epoch: 0, iter: 2' in out
    assert_valid_checkpoint(osp.join(work_dir, 'iter_4.pth'), 4)
    assert last_checkpoint(work_dir) == osp.join(work_dir, 'iter_4.pth')
    assert not osp.exists(osp.join(work_dir, 'iter_2.pth'))  # keep 1
    assert not [f for f in os.listdir(work_dir) if f.startswith('.tmp')]


def test_sigkill_mid_run_then_resume(demo_root, tmp_path):
    """SIGKILL in the middle of a run (before iteration 5, after iter_4.pth,

    at a point the run signals, so the test never races the run);
    --resume ends with all iterations and a valid final checkpoint.
    """
    work_dir = str(tmp_path / 'work')
    args = train_args(demo_root, work_dir, 10, keep=2, pause_at=5)
    proc = subprocess.Popen(
        [sys.executable] + args,
        cwd=REPO,
        env=dict(os.environ, **env()),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not osp.exists(osp.join(work_dir, 'paused')):
        assert proc.poll() is None, 'training ended before the pause'
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert safe_load(last_checkpoint(work_dir))['meta']['iter'] == 4

    _, out = run(
        train_args(demo_root, work_dir, 10, keep=2) + ['--resume'], env=env())
    assert 'resumed epoch: 0, iter: 4' in out
    assert_valid_checkpoint(osp.join(work_dir, 'iter_10.pth'), 10)
    assert last_checkpoint(work_dir) == osp.join(work_dir, 'iter_10.pth')


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(
        demo_root, tmp_path):
    """Iteration 3's loss is NaN because a weight is (which no skipped step
    repairs): the run exits non-zero naming the iteration, the loss terms, the
    weight and iter_2.pth, which stays the last (and a valid) checkpoint;
    nothing of iteration 3 or later is saved."""
    work_dir = str(tmp_path / 'work')
    code, out = run(
        train_args(demo_root, work_dir, 6, keep=3, nan_at=3),
        check=False,
        env=env())
    assert code != 0
    msg = re.search(r'NonFiniteLossError: (.*)', out).group(1)
    assert msg.startswith('non-finite loss at iteration 3: loss=nan, ')
    assert 'loss_cls=nan' in msg and 'loss_fg=' in msg
    # the poisoned weight is named: skipping steps cannot repair it
    assert 'the model state is not finite (backbone.' in msg
    assert f'Last good checkpoint: {work_dir}/iter_2.pth' in msg
    assert sorted(f for f in os.listdir(work_dir) if f.endswith('.pth')) \
        == ['bank.pth', 'iter_2.pth']
    assert last_checkpoint(work_dir) == osp.join(work_dir, 'iter_2.pth')
    assert_valid_checkpoint(osp.join(work_dir, 'iter_2.pth'), 2)


def checkpoint_state(work_dir, iteration):
    """(weights, optimiser state) of ``iter_<iteration>.pth``."""
    ckpt = safe_load(osp.join(work_dir, f'iter_{iteration}.pth'))
    return ckpt['state_dict'], ckpt['optimizer']['state']


def same_state(a, b):
    """Every weight and every optimiser moment / step count equal."""
    (wa, oa), (wb, ob) = a, b
    return (
        wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k])
                                       for k in wa) and oa.keys() == ob.keys()
        and all(oa[i].keys() == ob[i].keys() and all(
            torch.equal(torch.as_tensor(oa[i][k]), torch.as_tensor(ob[i][k]))
            for k in oa[i]) for i in oa))


def adam_steps(state):
    """AdamW's step count (the same for every parameter)."""
    return {int(s['step']) for s in state[1].values()}


def test_inf_gradient_step_is_skipped_and_training_goes_on(
        demo_root, tmp_path):
    """Iteration 3's gradient of one weight is inf while its loss is finite:

    that step never reaches the weights (iter_3.pth holds exactly iter_2.pth's
    weights and AdamW state), the log names the iteration and the weight, and
    training goes on: iteration 4 moves the weights again, and AdamW has
    counted 4 steps in 5 iterations.
    """
    work_dir = str(tmp_path / 'work')
    fault = dict(type='InfGradientHook', at_iters=[3])
    _, out = run(
        train_args(demo_root, work_dir, 5, interval=1, keep=5, faults=[fault]),
        env=env())
    assert re.search(
        r'non-finite gradients at iteration 3 in 1 parameter\(s\): '
        r'backbone\.\S+; optimiser step skipped', out), out[-3000:]
    assert 'non-finite gradients at iteration' not in out.replace(
        'non-finite gradients at iteration 3', '')
    states = {i: checkpoint_state(work_dir, i) for i in range(2, 6)}
    assert same_state(states[2], states[3])
    assert not same_state(states[3], states[4])
    assert [adam_steps(states[i]) for i in range(2, 6)] == [{2}, {2}, {3}, {4}]
    assert_valid_checkpoint(osp.join(work_dir, 'iter_5.pth'), 5)


def test_nan_batch_is_skipped_and_training_goes_on(demo_root, tmp_path):
    """A batch that makes iteration 3's loss NaN (the weights finite): the loss
    is logged, the step skipped, and the run ends normally."""
    work_dir = str(tmp_path / 'work')
    fault = dict(type='NaNInputHook', at_iter=3)
    _, out = run(
        train_args(demo_root, work_dir, 4, interval=1, keep=4, faults=[fault]),
        env=env())
    assert re.search(r'non-finite loss at iteration 3: loss=nan', out)
    assert 'non-finite gradients at iteration 3 in ' in out
    assert same_state(
        checkpoint_state(work_dir, 2), checkpoint_state(work_dir, 3))
    assert_valid_checkpoint(osp.join(work_dir, 'iter_4.pth'), 4)


def test_repeated_non_finite_gradients_stop_the_run(demo_root, tmp_path):
    """Inf gradients at iterations 3, 4 and 5 with max_consecutive_skips=3:

    the run stops at iteration 5 with NonFiniteGradientError, naming the
    weight, the limit and the last checkpoint (iter_4.pth, whose weights are
    iter_2.pth's: the skipped steps never reached them).
    """
    work_dir = str(tmp_path / 'work')
    fault = dict(type='InfGradientHook', at_iters=[3, 4, 5])
    code, out = run(
        train_args(demo_root, work_dir, 6, faults=[fault]) +
        cfg_options({'optim_wrapper.max_consecutive_skips': 3}),
        check=False,
        env=env())
    assert code != 0
    msg = re.search(r'NonFiniteGradientError: (.*)', out).group(1)
    assert re.match(
        r'non-finite gradients at iteration 5 in 1 parameter\(s\): '
        r'backbone\.\S+; 3 steps in a row skipped '
        r'\(max_consecutive_skips=3\), training stopped\. Last good '
        rf'checkpoint: {re.escape(work_dir)}/iter_4\.pth', msg), msg
    assert not osp.exists(osp.join(work_dir, 'iter_6.pth'))
