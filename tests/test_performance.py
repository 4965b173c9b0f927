"""Stage-one speed and memory: the benchmark's phase table, the memory
allocator setting, and the FG/BG encoder's checkpointed path (same maths)."""
import copy
import os.path as osp
import re
import sys

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from utils import PBIP_DEMO, REPO, cfg_options, run, tiny_pbip_options

# loads only the tools' allocator module (no torch, no package): fast
RSS_SCRIPT = r'''
import importlib.util
import numpy as np
spec = importlib.util.spec_from_file_location(
    'allocator', 'tools/_allocator.py')
allocator = importlib.util.module_from_spec(spec)
spec.loader.exec_module(allocator)
allocator.keep_freed_memory()
allocator_settings = allocator.allocator_settings
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096
block = np.ones(300 * 2**20 // 8)  # 300 MiB, touched
before = rss()
del block
print(allocator_settings())
print('released MiB', (before - rss()) / 2**20)
'''


def released_mib(env):
    code, out = run(['-c', RSS_SCRIPT], env=env)
    return float(re.search(r'released MiB (-?[\d.]+)', out).group(1)), out


@pytest.mark.skipif(
    not sys.platform.startswith('linux'), reason='glibc malloc settings')
def test_allocator_keeps_freed_memory():
    """With the tools' setting a freed 300 MiB block stays in the process (no
    re-faulting next step); with MMSEG_PBIP_MALLOC=system glibc gives it back
    at once."""
    kept, out = released_mib({'MMSEG_PBIP_MALLOC': 'keep'})
    assert 'keep freed memory' in out
    assert kept < 50
    given_back, out = released_mib({'MMSEG_PBIP_MALLOC': 'system'})
    assert 'MMSEG_PBIP_MALLOC=system' in out
    assert given_back > 250
    _, out = released_mib({
        'MMSEG_PBIP_MALLOC':
        'keep',
        'GLIBC_TUNABLES':
        'glibc.malloc.trim_threshold=1000000'
    })
    assert 'GLIBC_TUNABLES as given' in out
    code, out = run(['-c', RSS_SCRIPT],
                    env={'MMSEG_PBIP_MALLOC': 'fast'},
                    check=False)
    assert code != 0 and "must be 'keep' or 'system'" in out


def tiny_pbip(demo_root, **match_loss):
    cfg = Config.fromfile(PBIP_DEMO)
    cfg.merge_from_dict({
        k: v
        for k, v in tiny_pbip_options(demo_root, '/tmp/unused').items()
        if k.startswith('model.')
    })
    cfg.model.match_loss.update(match_loss)
    return MODELS.build(cfg.model)


def loss_and_grads(model, inputs, samples):
    model.train()
    model.zero_grad()
    losses = model.loss(inputs, samples)
    sum(losses.values()).backward()
    grads = {
        n: p.grad.clone()
        for n, p in model.named_parameters() if p.grad is not None
    }
    return {k: v.detach() for k, v in losses.items()}, grads


def both_paths(demo_root, options, base=None):
    """Losses and gradients of a PBIP model with ``base`` match-loss options
    and of a copy of it with ``options`` on top, same weights and batch."""
    base = base or {}
    plain = tiny_pbip(demo_root, **base)
    fast = tiny_pbip(demo_root, **{**base, **options})
    fast.load_state_dict(copy.deepcopy(plain.state_dict()))
    k = [2, 2, 2, 2]
    protos = torch.randn(
        sum(k),
        plain.head.prototype_dim,
        generator=torch.Generator().manual_seed(0))
    plain.head.set_prototypes(protos, k)
    fast.head.set_prototypes(protos, k)
    gen = torch.Generator().manual_seed(1)
    inputs = torch.randn(4, 3, 64, 64, generator=gen)
    samples = []
    for label in ([1, 1, 0, 0], [0, 1, 1, 1], [1, 0, 0, 1], [1, 1, 1, 1]):
        sample = SegDataSample()
        sample.gt_cls_label = torch.tensor(label, dtype=torch.float32)
        samples.append(sample)
    torch.manual_seed(2)  # drop path in the backbone
    losses_a, grads_a = loss_and_grads(plain, inputs, samples)
    torch.manual_seed(2)
    losses_b, grads_b = loss_and_grads(fast, inputs, samples)
    assert losses_a['loss_fg'] != 0  # pairs were selected
    assert grads_a.keys() == grads_b.keys() and grads_a
    return fast, (losses_a, grads_a), (losses_b, grads_b)


def assert_same(a, b):
    (losses_a, grads_a), (losses_b, grads_b) = a, b
    for key in losses_a:
        assert torch.allclose(losses_a[key], losses_b[key], atol=1e-5), key
    for name in grads_a:
        assert torch.allclose(
            grads_a[name], grads_b[name], atol=1e-5, rtol=1e-4), name


@pytest.mark.parametrize('options', [
    dict(encoder_checkpoint=True),
    dict(encoder_checkpoint=True, encoder_chunk=3),
    dict(encoder_chunk=5),
    dict(encoder_compile=True),
    dict(encoder_compile=True, encoder_checkpoint=True, encoder_chunk=3),
])
def test_checkpointed_encoder_pass_has_the_same_maths(demo_root, options):
    """The memory-saving FG/BG encoder path gives the plain path's losses and
    gradients (to 1e-5) on the same weights and batch."""
    fast, plain_out, fast_out = both_paths(demo_root, options)
    if options.get('encoder_compile'):  # compiled, not the eager fallback
        assert fast.match_loss._compiled['run'] is not fast.image_encoder
    assert_same(plain_out, fast_out)


def test_encoder_autocast_is_bf16_and_close(demo_root):
    """``encoder_autocast='bfloat16'`` runs the encoder's layers in bf16 and
    returns float32 features; losses and gradients change only by bf16 rounding
    (not the same maths: hence opt-in)."""
    fast, (losses_a,
           grads_a), (losses_b,
                      grads_b) = both_paths(demo_root,
                                            dict(encoder_autocast='bfloat16'))
    dtypes = []
    linear = next(m for m in fast.image_encoder.modules()
                  if isinstance(m, torch.nn.Linear))
    handle = linear.register_forward_hook(
        lambda m, i, o: dtypes.append(o.dtype))
    feats = fast.match_loss.encode(fast.image_encoder,
                                   torch.rand(2, 3, 64, 64))
    handle.remove()
    assert dtypes == [torch.bfloat16] and feats.dtype == torch.float32
    changed = False
    for key in losses_a:  # bf16 has 8 bits of mantissa: ~0.4 % per op
        assert torch.allclose(
            losses_a[key], losses_b[key], rtol=0.05, atol=1e-3), key
        changed |= not torch.equal(losses_a[key], losses_b[key])
    assert changed  # it did run in another precision
    for name in grads_a:
        a, b = grads_a[name].flatten(), grads_b[name].flatten()
        if a.norm() > 0:
            assert torch.nn.functional.cosine_similarity(a, b, 0) > 0.98, name


def test_encoder_autocast_survives_recomputation(demo_root):
    """Checkpointing recomputes the encoder under the same autocast: the
    checkpointed bf16 pass equals the plain bf16 pass."""
    base = dict(encoder_autocast='bfloat16')
    _, plain_out, fast_out = both_paths(
        demo_root, dict(encoder_checkpoint=True, encoder_chunk=3), base)
    assert_same(plain_out, fast_out)


def test_compile_failure_falls_back_to_eager(demo_root):
    """An encoder that cannot be compiled runs eagerly (with a warning)."""
    plain = tiny_pbip(demo_root)
    broken = tiny_pbip(
        demo_root, encoder_compile=dict(backend='no_such_backend'))
    images = torch.rand(3, 3, 64, 64)
    out = broken.match_loss.encode(broken.image_encoder, images)
    assert broken.match_loss._compiled['run'] is broken.image_encoder
    assert torch.equal(out, plain.match_loss.encode(plain.image_encoder,
                                                    images))


def test_bad_chunk_refused():
    from mmseg_pbip.models.losses import ImgMatchLoss
    with pytest.raises(ValueError, match='encoder_chunk'):
        ImgMatchLoss(encoder_chunk=0)
    with pytest.raises(ValueError, match='encoder_autocast'):
        ImgMatchLoss(encoder_autocast='int8')


def test_benchmark_phase_table(demo_root, tmp_path):
    opts = tiny_pbip_options(demo_root, str(tmp_path / 'work'))
    tool = osp.join(REPO, 'tools', 'analysis_tools', 'benchmark_train.py')
    _, log = run([
        tool, PBIP_DEMO, '--iters', '2', '--warmup', '1', '--profile',
        str(tmp_path / 'prof')
    ] + cfg_options(opts))
    total = float(re.search(r'\(([\d.]+) s/iter\)', log).group(1))
    rows = dict(
        re.findall(r'^(\S[^\n]*?)\s+(-?[\d.]+)\s+-?[\d.]+%$', log, re.M))
    for phase in ('data wait', 'preprocessing', 'backbone forward',
                  'head forward', 'FG/BG image construction',
                  'encoder forward (FG/BG)', 'backward', 'optimiser', 'hooks',
                  'losses (rest of forward)'):
        assert phase in rows, (phase, log[-3000:])
    # no phase counted twice: what is left over ('other') is not negative
    assert all(float(v) >= 0 for v in rows.values()), rows
    assert float(rows['other']) < 0.5 * total
    assert float(rows['backward']) > 0
    assert re.search(r'FG/BG pairs: [\d.]+ per iteration', log)
    assert re.search(r'page faults per iteration: \d+ minor', log)
    assert 'keep freed memory' in log
    assert osp.getsize(tmp_path / 'prof' / 'trace.json') > 0
    for mode in ('test', 'pseudo'):
        _, log = run(
            [tool, PBIP_DEMO, '--mode', mode, '--iters', '1', '--warmup', '0'
             ] + cfg_options(opts))
        assert re.search(r'throughput: [\d.]+ images/s', log), log[-2000:]
        rows = dict(
            re.findall(r'^(\S[^\n]*?)\s+(-?[\d.]+)\s+-?[\d.]+%$', log, re.M))
        assert 'inference' in rows and 'backbone forward' not in rows
        assert all(float(v) >= 0 for v in rows.values()), rows
