"""Stage-one speed and memory: the benchmark's phase table and the memory
allocator setting."""
import os.path as osp
import re
import sys

import pytest
from conftest import PBIP_DEMO, REPO, run, tiny_pbip_options
from test_tools import cfg_options

# loads only the allocator module (not the whole package): a fast process
RSS_SCRIPT = r'''
import importlib.util
import numpy as np
spec = importlib.util.spec_from_file_location(
    'allocator', 'mmseg_pbip/utils/allocator.py')
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


@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason='glibc malloc settings')
def test_allocator_keeps_freed_memory():
    """With the tools' setting a freed 300 MiB block stays in the process
    (no re-faulting next step); with MMSEG_PBIP_MALLOC=system glibc gives
    it back at once."""
    kept, out = released_mib({'MMSEG_PBIP_MALLOC': 'keep'})
    assert 'keep freed memory' in out
    assert kept < 50
    given_back, out = released_mib({'MMSEG_PBIP_MALLOC': 'system'})
    assert 'MMSEG_PBIP_MALLOC=system' in out
    assert given_back > 250
    _, out = released_mib({
        'MMSEG_PBIP_MALLOC': 'keep',
        'GLIBC_TUNABLES': 'glibc.malloc.trim_threshold=1000000'
    })
    assert 'GLIBC_TUNABLES as given' in out
    code, out = run(['-c', RSS_SCRIPT], env={'MMSEG_PBIP_MALLOC': 'fast'},
                    check=False)
    assert code != 0 and "must be 'keep' or 'system'" in out


def test_benchmark_phase_table(demo_root, tmp_path):
    opts = tiny_pbip_options(demo_root, str(tmp_path / 'work'))
    tool = osp.join(REPO, 'tools', 'analysis_tools', 'benchmark_train.py')
    _, log = run([tool, PBIP_DEMO, '--iters', '2', '--warmup', '1',
                  '--profile', str(tmp_path / 'prof')] + cfg_options(opts))
    total = float(re.search(r'\(([\d.]+) s/iter\)', log).group(1))
    rows = dict(re.findall(r'^(\S[^\n]*?)\s+([\d.]+)\s+[\d.]+%$', log, re.M))
    for phase in ('data wait', 'preprocessing', 'backbone forward',
                  'head forward', 'FG/BG image construction',
                  'encoder forward (FG/BG)', 'backward', 'optimiser',
                  'hooks', 'losses (rest of forward)'):
        assert phase in rows, (phase, log[-3000:])
    # the phases add up to the iteration (each printed to 1 ms)
    assert abs(sum(map(float, rows.values())) - total) < 0.002 * len(rows)
    assert float(rows['backward']) > 0
    assert re.search(r'FG/BG pairs: [\d.]+ per iteration', log)
    assert re.search(r'page faults per iteration: \d+ minor', log)
    assert 'keep freed memory' in log
    assert osp.getsize(tmp_path / 'prof' / 'trace.json') > 0
    for mode in ('test', 'pseudo'):
        _, log = run([tool, PBIP_DEMO, '--mode', mode, '--iters', '1',
                      '--warmup', '0'] + cfg_options(opts))
        assert re.search(r'throughput: [\d.]+ images/s', log), log[-2000:]
        assert 'inference' in log
