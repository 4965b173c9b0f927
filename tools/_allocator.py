"""Keep freed memory in the process (glibc malloc settings for CPU runs).

A training step on the CPU allocates gigabytes of activations and frees them
at the end of the backward pass. With glibc's defaults, allocations above
the mmap threshold go back to the kernel on ``free`` and the top of the heap
is trimmed, so the next step page-faults all of it in again (millions of
minor faults per iteration, about a third of a PBIP step on 2 cores, see
``tools/analysis_tools/benchmark_train.py``). The project's tools therefore
set, at start-up, what ``GLIBC_TUNABLES=glibc.malloc.mmap_max=0:
glibc.malloc.trim_threshold=...:glibc.malloc.top_pad=1073741824`` sets:
heap-only allocations, no trimming, 1 GiB of headroom. The resident set then
stays at its peak instead of going up and down every step.

Switch it off with ``MMSEG_PBIP_MALLOC=system`` (glibc's defaults). A
``GLIBC_TUNABLES`` that already sets ``glibc.malloc.*`` is left alone. Other
C libraries (macOS, musl) are left alone. GPU memory is PyTorch's caching
allocator and is not affected.

Only the tools use it (not part of the package); it imports nothing outside
the standard library, so that a test can load it alone.
"""
import ctypes
import ctypes.util
import os
import platform

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4
TOP_PAD = 1 << 30

_state = {'applied': None}


def allocator_settings() -> str:
    """What :func:`keep_freed_memory` did in this process, in words."""
    applied = _state['applied']
    if applied is None:
        return 'C library defaults (keep_freed_memory not called)'
    return applied


def keep_freed_memory() -> bool:
    """Apply the keep-freed-memory malloc settings to this process.

    Called by the tools before they build a model; safe to call again.
    Child processes forked later (data-loader workers) inherit it.

    Returns:
        bool: Whether the settings were applied.
    """
    choice = os.environ.get('MMSEG_PBIP_MALLOC', 'keep').lower()
    if choice not in ('keep', 'system'):
        raise ValueError(f"MMSEG_PBIP_MALLOC must be 'keep' or 'system', "
                         f'got {choice!r}')
    if choice == 'system':
        _state['applied'] = 'C library defaults (MMSEG_PBIP_MALLOC=system)'
        return False
    if 'glibc.malloc' in os.environ.get('GLIBC_TUNABLES', ''):
        _state['applied'] = 'GLIBC_TUNABLES as given'
        return False
    if platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc':
        _state['applied'] = 'C library defaults (not glibc)'
        return False
    libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    # mallopt returns 1 on success; -1 disables trimming (man mallopt)
    ok = (
        libc.mallopt(M_MMAP_MAX, 0) == 1
        and libc.mallopt(M_TRIM_THRESHOLD, -1) == 1
        and libc.mallopt(M_TOP_PAD, TOP_PAD) == 1)
    _state['applied'] = ('glibc: keep freed memory (mmap_max=0, no trim, '
                         'top_pad=1 GiB)'
                         if ok else 'C library defaults (mallopt refused)')
    return ok
