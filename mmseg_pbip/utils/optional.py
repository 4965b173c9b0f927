"""Optional parts of the plugin and the setup.py extras that bring them.

``pip install mmseg-pbip`` installs what PBIP's two stages need. Whole-slide
inference, PSCL's Mask2Former stage two, the DenseCRF refinement and the
CONCH encoder import their packages only when used, through
:func:`import_optional`, so a missing one is reported with the extra to
install rather than as a bare ``ModuleNotFoundError``.
"""
import importlib
from types import ModuleType
from typing import Dict, Optional, Tuple


class MissingExtraError(ImportError):
    """A module of an optional extra is missing; the message says what needs it
    and the extra to install."""


# extra -> (what needs it, the top-level modules it brings)
EXTRAS: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    'wsi': ('Whole-slide inference', ('openslide', 'tiffslide', 'tifffile',
                                      'shapely')),
    'pscl': ("PSCL's Mask2Former stage two", ('mmdet', )),
    'crf': ('DenseCRF refinement of pseudo labels', ('pydensecrf', )),
    'conch': ('The CONCH encoder', ('conch', )),
}
# top-level module -> the package on PyPI that installs it
PACKAGES: Dict[str, str] = {
    'openslide': 'openslide-python',
    'pydensecrf': 'pydensecrf2',
    'conch': 'conch-fork',
}


def extra_of(name: str) -> str:
    """The extra that brings module ``name`` (or a submodule of it)."""
    top = name.split('.', 1)[0]
    for extra, (_, modules) in EXTRAS.items():
        if top in modules:
            return extra
    raise KeyError(f'{name!r} is not in an optional extra')


def import_optional(name: str) -> ModuleType:
    """Import a module of an optional extra.

    Args:
        name (str): The module, e.g. ``'pydensecrf.densecrf'``.

    Returns:
        ModuleType: The module.

    Raises:
        MissingExtraError: An ImportError, when it cannot be imported,
            naming the extra to install (``pip install "mmseg-pbip[crf]"``).
    """
    extra = extra_of(name)
    top = name.split('.', 1)[0]
    try:
        importlib.import_module(top)  # a submodule may already be loaded
        return importlib.import_module(name)
    except ImportError as e:
        raise MissingExtraError(
            f'{EXTRAS[extra][0]} needs the optional package '
            f"'{PACKAGES.get(top, top)}' ({e}): "
            f'pip install "mmseg-pbip[{extra}]" (or "mmseg-pbip[all]"; '
            'tools/setup_env.sh installs every extra)') from e


def missing_extra_in(error: BaseException) -> Optional[MissingExtraError]:
    """The :class:`MissingExtraError` that ``error`` is, or that it was raised
    from or while handling (MMEngine's ``custom_imports`` wraps it twice), else
    None."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, MissingExtraError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def require_extra(extra: str) -> None:
    """Import every module of ``extra`` (up front, before a long run).

    Raises:
        MissingExtraError: From :func:`import_optional`, for the first
            missing module.
    """
    for name in EXTRAS[extra][1]:
        import_optional(name)
