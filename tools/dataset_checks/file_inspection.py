"""Per-file checks, run in worker processes: decode, channels, values.

Each function returns a plain dict (picklable, JSON-friendly) and never
raises for a bad file: the problem is a string in ``'errors'`` /
``'warnings'``.
"""
import hashlib
import os

import numpy as np
from PIL import Image, ImageFile

# Channels of the PIL modes a patch or mask may come in.
MODE_CHANNELS = {
    '1': 1,
    'L': 1,
    'P': 1,
    'I': 1,
    'I;16': 1,
    'F': 1,
    'LA': 2,
    'PA': 2,
    'RGB': 3,
    'YCbCr': 3,
    'LAB': 3,
    'HSV': 3,
    'RGBA': 4,
    'RGBX': 4,
    'CMYK': 4
}


def _decode(path: str) -> tuple:
    """Fully decode ``path``.

    Returns:
        tuple: (result dict with ``path``, ``errors``, ``warnings`` and,
        when decoded, ``size``, ``mode``, ``channels``; the PIL image or
        None; the file bytes).
    """
    out = dict(path=path, errors=[], warnings=[])
    try:
        size = os.path.getsize(path)
    except OSError as e:
        out['errors'].append(f'cannot be read: {e.strerror}')
        return out, None, b''
    if size == 0:
        out['errors'].append('empty file (0 bytes)')
        return out, None, b''
    with open(path, 'rb') as f:
        data = f.read()
    # truncated files must fail, whatever another import set globally
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        img = Image.open(path)
        img.load()
    except Exception as e:  # PIL raises many types for bad files
        reason = 'truncated' if 'truncated' in str(e).lower() else \
            'not a decodable image'
        out['errors'].append(f'{reason}: {e}')
        return out, None, data
    out.update(
        size=img.size,
        mode=img.mode,
        channels=MODE_CHANNELS.get(img.mode, len(img.getbands())))
    return out, img, data


def inspect_image(path: str, grey_threshold: float = 200.) -> dict:
    """Decode a patch and measure what the checks and the summary need.

    Args:
        path (str): Image file.
        grey_threshold (float): Grey level (0-255) above which a pixel is
            white glass, as in the image bank's white filter.

    Returns:
        dict: ``path``, ``errors``, ``warnings`` (lists of str), and when
        decoded ``size`` ``(w, h)``, ``mode``, ``channels``,
        ``white_fraction`` and ``sha1`` of the file bytes.
    """
    out, img, data = _decode(path)
    if img is None:
        return out
    channels = out['channels']
    out['sha1'] = hashlib.sha1(data).hexdigest()
    if img.mode != 'RGB':
        out['warnings'].append(
            f'{channels} channel(s) ({img.mode}), expected RGB: training '
            'reads it as 3-channel colour' +
            (' and drops the alpha channel' if 'A' in img.mode else ''))
    rgb = np.asarray(img.convert('RGB'), dtype=np.float32)
    out['white_fraction'] = float((rgb.mean(-1) > grey_threshold).mean())
    return out


def inspect_mask(path: str, num_classes: int, ignore_index: int = 255) -> dict:
    """Decode a class-index mask and check its values and size.

    Args:
        path (str): Mask file (palette or grey PNG of class indices).
        num_classes (int): Tissue classes; value ``num_classes`` is
            background, ``ignore_index`` is allowed too.
        ignore_index (int): Value ignored by the loss and metrics.

    Returns:
        dict: ``path``, ``errors``, ``warnings`` and, when decoded,
        ``size`` ``(w, h)`` and ``pixels`` (list, pixel count per value
        ``0..num_classes``).
    """
    out, img, _ = _decode(path)
    if img is None:
        return out
    channels = out['channels']
    if channels != 1:
        out['errors'].append(
            f'{channels}-channel mask ({img.mode}); masks are single-channel '
            'class-index PNGs (palette or grey)')
        return out
    values = np.asarray(img)
    uniq, counts = np.unique(values, return_counts=True)
    bad = [int(v) for v in uniq if v > num_classes and v != ignore_index]
    if bad:
        out['errors'].append(
            f'mask values {bad} are outside the classes 0..{num_classes} '
            f'({num_classes} = background) and ignore {ignore_index}')
    pixels = [0] * (num_classes + 1)
    for v, n in zip(uniq.tolist(), counts.tolist()):
        if v <= num_classes:
            pixels[v] = n
    out['pixels'] = pixels
    return out
