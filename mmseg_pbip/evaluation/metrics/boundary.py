"""Boundary bands of binary masks for boundary IoU (Cheng et al., 2021)."""
import cv2
import numpy as np


def boundary_width(height: int, width: int, ratio: float) -> int:
    """Band width ``d`` in pixels: ``ratio`` of the image diagonal, >= 1."""
    return max(1, int(round(ratio * np.hypot(height, width))))


def mask_boundary(mask: np.ndarray, d: int) -> np.ndarray:
    """Pixels of ``mask`` within distance ``d`` of its contour.

    As in the reference boundary-IoU code, the mask is padded with zeros, so
    the image border counts as contour, and distance is the 8-connected
    (chessboard) distance of ``d`` erosions with a 3x3 kernel.

    Args:
        mask (np.ndarray): ``[H, W]`` bool.
        d (int): Band width in pixels.

    Returns:
        np.ndarray: ``[H, W]`` bool, ``mask & ~erode(mask, d)``.
    """
    m = np.pad(mask.astype(np.uint8), 1)
    eroded = cv2.erode(m, np.ones((3, 3), np.uint8), iterations=d)
    return mask & ~eroded[1:-1, 1:-1].astype(bool)
