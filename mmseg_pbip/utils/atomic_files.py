"""Files that are either complete or absent: write a temporary, rename."""
import os
import os.path as osp
from contextlib import contextmanager


def _fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (where the file system allows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str, durable: bool = False):
    """Yield ``<folder>/.tmp-<name>`` to write; rename it to ``path`` after.

    A rename within one folder is atomic, so ``path`` is never seen
    half-written: a crash leaves the old ``path`` (or none) and at most a
    ``.tmp-*`` file, which an error in the ``with`` body removes. The folder
    must exist.

    Args:
        path (str): Final file.
        durable (bool): Flush the file and the rename to disk (checkpoints:
            they must survive a power loss, not only a killed process).

    Yields:
        str: The temporary path.
    """
    folder = osp.dirname(osp.abspath(path))
    tmp = osp.join(folder, '.tmp-' + osp.basename(path))
    try:
        yield tmp
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    if durable:
        with open(tmp, 'rb') as f:
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if durable:
        _fsync_folder(folder)
