"""Find tissue on a slide thumbnail, so that glass is never read."""
import cv2
import numpy as np


def tissue_mask(thumb: np.ndarray,
                min_saturation: int = 15,
                min_area_fraction: float = 1e-4,
                close_radius: int = 2) -> np.ndarray:
    """Tissue pixels of a thumbnail: Otsu's threshold on saturation.

    Stained tissue is coloured and glass is grey-white, so the HSV
    saturation of a slide separates them: Otsu's threshold on the (slightly
    blurred) saturation. Pale tissue (necrosis, oedema) forms a third, low
    mode that a single Otsu threshold puts with the glass, so Otsu's rule is
    applied once more to the pixels below the first threshold, and that
    lower threshold is used. It is never below ``min_saturation`` (glass
    alone has no second mode to find). The mask is closed with a disc of
    ``close_radius`` thumbnail pixels (joins tissue torn by the blur) and
    components smaller than ``min_area_fraction`` of the thumbnail are
    dropped (dust, pen specks).

    Args:
        thumb (np.ndarray): ``[h, w, 3]`` uint8 RGB.
        min_saturation (int): Lowest threshold (0-255).
        min_area_fraction (float): Smallest component kept.
        close_radius (int): Radius of the closing disc.

    Returns:
        np.ndarray: ``[h, w]`` bool.
    """
    hsv = cv2.cvtColor(thumb, cv2.COLOR_RGB2HSV)
    sat = cv2.GaussianBlur(hsv[..., 1], (5, 5), 0)
    threshold, _ = cv2.threshold(sat, 0, 255,
                                 cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    low = sat[sat <= threshold]
    if low.size:
        threshold, _ = cv2.threshold(
            low.reshape(1, -1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = (sat > max(threshold, min_saturation)).astype(np.uint8)
    if close_radius > 0:
        disc = cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * close_radius + 1, 2 * close_radius + 1))
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, disc)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, 8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area_fraction * mask.size
    keep[0] = False  # the background component
    return keep[labels]
