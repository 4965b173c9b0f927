"""The image spaces an image encoder is fed in: RGB [0, 1] and stretches."""
import torch

Tensor = torch.Tensor


def rgb01(images: Tensor, bgr: bool) -> Tensor:
    """0-255 images -> RGB in [0, 1].

    Args:
        images (Tensor): ``[B, 3, H, W]`` on the 0-255 scale (any dtype;
            integers become float32), in BGR order when ``bgr`` (OpenCV's
            decode order), else RGB.
        bgr (bool): Whether the channels are in BGR order.

    Returns:
        Tensor: ``[B, 3, H, W]`` RGB, ``images / 255`` clamped to [0, 1].
    """
    if not images.is_floating_point():
        images = images.float()
    images = (images / 255.).clamp(0, 1)
    return images.flip(1) if bgr else images


def inputs_to_rgb01(inputs: Tensor, data_preprocessor) -> Tensor:
    """Undo a ``SegDataPreProcessor``: ``[B, 3, H, W]`` RGB in [0, 1].

    Images are decoded in BGR order; the preprocessor keeps that order
    unless it converts the channels (``bgr_to_rgb``), so its BGR outputs
    are flipped back.

    Args:
        inputs (Tensor): ``[B, 3, H, W]`` preprocessed (normalised) images.
        data_preprocessor (SegDataPreProcessor): The preprocessor that made
            them (``mean``, ``std`` on the 0-255 scale).
    """
    pre = data_preprocessor
    return rgb01(inputs * pre.std + pre.mean, bgr=not pre.channel_conversion)


def stretch_whole(images: Tensor, eps: float = 1e-8) -> Tensor:
    """Min-max stretch of each image as a whole, as the released bank does.

    Args:
        images (Tensor): ``[B, C, H, W]``.
        eps (float): Added to the range. Defaults to 1e-8.

    Returns:
        Tensor: ``[B, C, H, W]``, each image minus its minimum over all
        channels and pixels, over its range plus ``eps``.
    """
    lo = images.amin((1, 2, 3), keepdim=True)
    hi = images.amax((1, 2, 3), keepdim=True)
    return (images - lo) / (hi - lo + eps)
