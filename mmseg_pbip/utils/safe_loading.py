"""Safe (``weights_only=True``) loading of checkpoints and artifacts.

Since torch 2.6, ``torch.load`` refuses every global that is not
allow-listed. MMEngine 0.10.7 checkpoints hold a few: the message hub's
:class:`~mmengine.logging.HistoryBuffer`, the numpy arrays, dtypes and
scalars inside it, and ``getattr``, with which pickle protocol 2 writes the
buffer's statistics methods (``getattr(HistoryBuffer, 'mean')``).
:func:`register_safe_globals` allow-lists exactly those, once, when
``mmseg_pbip`` is imported; safe loading itself stays on. ``getattr`` is not
allow-listed as such: the name resolves to :func:`history_buffer_getattr`,
which only returns HistoryBuffer's own statistics methods.

:func:`register_safe_checkpoint_loader` also makes MMEngine's loader of
local files (``load_from``, ``--resume``, ``init_cfg=Pretrained``,
``tools/test.py CHECKPOINT``) call :func:`safe_load`, which passes
``weights_only=True`` explicitly: MMEngine calls ``torch.load`` without it,
which ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` would turn into full unpickling.
"""
import glob
import os.path as osp
import pickle
from typing import Dict

import numpy as np
import torch
from mmengine.logging import HistoryBuffer


def _numpy_globals() -> list:
    """The numpy callables and classes that pickled arrays refer to."""
    try:  # numpy >= 2 keeps them in numpy._core
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    dtype_classes = [
        type(np.dtype(t)) for t in (np.float64, np.float32, np.float16,
                                    np.int64, np.int32, np.uint8, np.bool_)
    ]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype
            ] + dtype_classes


HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


def history_buffer_getattr(obj, name: str):
    """The only ``getattr`` a checkpoint may call: HistoryBuffer's methods.

    Args:
        obj: Must be the :class:`HistoryBuffer` class.
        name (str): One of :data:`HISTORY_BUFFER_METHODS`.

    Returns:
        Callable: ``HistoryBuffer.<name>``.

    Raises:
        pickle.UnpicklingError: For any other object or attribute.
    """
    if obj is HistoryBuffer and name in HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refused getattr({obj!r}, {name!r}) in a checkpoint: only '
        f'HistoryBuffer.{{{", ".join(HISTORY_BUFFER_METHODS)}}} is allowed')


def checkpoint_safe_globals() -> list:
    """Globals allowed inside MMEngine checkpoints, and nothing more.

    Returns:
        list: :class:`HistoryBuffer`, the numpy reconstruction helpers,
        ``ndarray``, ``dtype`` and the numeric dtype classes, and
        :func:`history_buffer_getattr` under the names pickle gives
        ``getattr`` (``(callable, name)`` pairs, see
        :func:`torch.serialization.add_safe_globals`).
    """
    return [HistoryBuffer] + _numpy_globals() + [
        (history_buffer_getattr, '__builtin__.getattr'),
        (history_buffer_getattr, 'builtins.getattr'),
    ]


_registered = False


def register_safe_globals() -> None:
    """Allow-list :func:`checkpoint_safe_globals` for ``torch.load``."""
    global _registered
    if not _registered:
        torch.serialization.add_safe_globals(checkpoint_safe_globals())
        _registered = True


def safe_load(path: str,
              map_location='cpu',
              what: str = 'checkpoint',
              mmap: bool = False):
    """``torch.load(path, weights_only=True)`` with errors that name the file.

    Args:
        path (str): File to load.
        map_location: As in :func:`torch.load`. Defaults to 'cpu'.
        what (str): What the file is, for messages ('checkpoint',
            'prototype file', ...).
        mmap (bool): Map the file instead of reading it (large weights that
            are only inspected). Defaults to False.

    Returns:
        Any: The loaded object.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is not a torch file or holds objects outside
            the allow-list (it is never unpickled unsafely).
    """
    register_safe_globals()
    try:
        return torch.load(
            path, map_location=map_location, weights_only=True, mmap=mmap)
    except FileNotFoundError:
        raise FileNotFoundError(f'{what} {path} does not exist') from None
    except Exception as e:
        raise ValueError(
            f'{what} {path} cannot be loaded safely (weights_only=True): it '
            'is corrupt or holds objects outside the allow-list, and is '
            f'refused rather than unpickled. Cause: {e}') from e


def load_local_checkpoint(filename: str, map_location=None):
    """MMEngine's loader for local paths (scheme ``''``), loading safely.

    Args:
        filename (str): Checkpoint path (``~`` expanded).
        map_location: As in :func:`torch.load`.

    Returns:
        dict: The checkpoint.
    """
    return safe_load(osp.expanduser(filename), map_location, 'checkpoint')


def register_safe_checkpoint_loader() -> None:
    """Route MMEngine's local checkpoint loading to
    :func:`load_local_checkpoint`."""
    from mmengine.runner import CheckpointLoader
    CheckpointLoader.register_scheme(
        prefixes='', force=True)(
            load_local_checkpoint)


def find_weight_file(path: str) -> str:
    """The weight file at ``path`` (a file, or a folder holding one).

    Raises:
        FileNotFoundError: naming the folder and the names looked for.
    """
    if osp.isfile(path):
        return path
    if not osp.isdir(path):
        raise FileNotFoundError(f'{path}: no such file or folder')
    for name in ('model.safetensors', 'pytorch_model.bin'):
        if osp.isfile(osp.join(path, name)):
            return osp.join(path, name)
    found = sorted(
        glob.glob(osp.join(path, '*.pth')) +
        glob.glob(osp.join(path, '*.safetensors')))
    if len(found) == 1:
        return found[0]
    raise FileNotFoundError(
        f'{path}: expected model.safetensors, pytorch_model.bin or one '
        f'*.pth / *.safetensors file, found {found or "none"}')


def read_state_dict(path: str,
                    mmap: bool = False,
                    what: str = 'weights') -> Dict[str, torch.Tensor]:
    """Tensors of a local weight file, loaded safely.

    ``.safetensors`` through safetensors; anything else through
    ``torch.load(weights_only=True)``. A ``state_dict`` / ``model`` wrapper
    (training checkpoints) is unwrapped. ``mmap`` maps a torch file
    instead of reading it (inspection of multi-GB files); ``what`` names
    the file in errors.

    Raises:
        ValueError: naming the file, when it holds no tensor dict.
    """
    path = find_weight_file(path)
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        state = load_file(path)
    else:
        state = safe_load(path, what=what, mmap=mmap)
    for key in ('state_dict', 'model'):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f'{path}: not a state dict of tensors')
    return state
