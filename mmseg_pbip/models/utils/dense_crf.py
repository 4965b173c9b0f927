"""Fully connected CRF refinement of CAM pseudo masks (pydensecrf2)."""
from typing import Optional

import numpy as np

from ...utils import import_optional


def import_densecrf():
    """Pydensecrf's ``densecrf`` and ``utils`` modules.

    Raises:
        ImportError: naming the ``crf`` extra when pydensecrf2 is missing.
    """
    return (import_optional('pydensecrf.densecrf'),
            import_optional('pydensecrf.utils'))


class DenseCRF:
    """Krähenbühl & Koltun's dense CRF over the classes present in an image.

    The unary is ``-log p`` of the CAM probabilities: the fused CAMs of the
    image's labelled classes normalised to sum to one per pixel (pixels where
    every CAM is 0 get the uniform distribution), clipped at ``clip``. The
    pairwise terms are a Gaussian (smoothness) kernel and a bilateral
    (appearance) kernel on position and RGB, with the usual DeepLab /
    WSSS parameters as defaults.

    Args:
        iterations (int): Mean-field steps. Defaults to 10.
        gaussian_sxy (float): Smoothness kernel width in pixels.
            Defaults to 3.
        gaussian_compat (float): Smoothness kernel weight. Defaults to 3.
        bilateral_sxy (float): Appearance kernel width in pixels.
            Defaults to 80.
        bilateral_srgb (float): Appearance kernel width in grey levels.
            Defaults to 13.
        bilateral_compat (float): Appearance kernel weight. Defaults to 10.
        clip (float): Smallest probability in the unary. Defaults to 1e-5.
    """

    def __init__(self,
                 iterations: int = 10,
                 gaussian_sxy: float = 3.,
                 gaussian_compat: float = 3.,
                 bilateral_sxy: float = 80.,
                 bilateral_srgb: float = 13.,
                 bilateral_compat: float = 10.,
                 clip: float = 1e-5) -> None:
        import_densecrf()  # fail now, naming the extra, if missing
        if iterations < 1:
            raise ValueError(f'iterations must be >= 1, got {iterations}')
        self.iterations = int(iterations)
        self.gaussian_sxy = gaussian_sxy
        self.gaussian_compat = gaussian_compat
        self.bilateral_sxy = bilateral_sxy
        self.bilateral_srgb = bilateral_srgb
        self.bilateral_compat = bilateral_compat
        self.clip = clip

    @staticmethod
    def cam_probabilities(cams: np.ndarray) -> np.ndarray:
        """CAMs ``[C, H, W]`` (>= 0) to per-pixel probabilities over C."""
        cams = np.clip(cams.astype(np.float32), 0, None)
        total = cams.sum(0, keepdims=True)
        uniform = np.full_like(cams, 1. / cams.shape[0])
        return np.where(total > 0, cams / np.maximum(total, 1e-12), uniform)

    def __call__(self,
                 image: np.ndarray,
                 cams: np.ndarray,
                 present: Optional[np.ndarray] = None) -> np.ndarray:
        """Refined label map.

        Args:
            image (np.ndarray): ``[H, W, 3]`` uint8 RGB.
            cams (np.ndarray): ``[N, H, W]`` fused CAMs (>= 0).
            present (np.ndarray, optional): ``[N]`` bool, the classes of the
                image-level label; all when None.

        Returns:
            np.ndarray: ``[H, W]`` int64 class indices in ``0..N-1`` (only
            present classes).
        """
        num_classes, height, width = cams.shape
        if image.shape != (height, width, 3) or image.dtype != np.uint8:
            raise ValueError(f'image must be uint8 [{height}, {width}, 3], '
                             f'got {image.dtype} {list(image.shape)}')
        classes = np.arange(num_classes) if present is None \
            else np.flatnonzero(present)
        if len(classes) == 0:
            classes = np.arange(num_classes)
        if len(classes) == 1:
            return np.full((height, width), classes[0], dtype=np.int64)
        densecrf, crf_utils = import_densecrf()
        probs = self.cam_probabilities(cams[classes])
        crf = densecrf.DenseCRF2D(width, height, len(classes))
        crf.setUnaryEnergy(crf_utils.unary_from_softmax(probs, clip=self.clip))
        crf.addPairwiseGaussian(
            sxy=self.gaussian_sxy, compat=self.gaussian_compat)
        crf.addPairwiseBilateral(
            sxy=self.bilateral_sxy,
            srgb=self.bilateral_srgb,
            rgbim=np.ascontiguousarray(image),
            compat=self.bilateral_compat)
        q = np.asarray(crf.inference(self.iterations)).reshape(
            len(classes), height, width)
        return classes[q.argmax(0)].astype(np.int64)
