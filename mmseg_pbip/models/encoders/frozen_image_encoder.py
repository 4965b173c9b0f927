"""Base class of the frozen image encoders that embed whole images."""
import hashlib
import os.path as osp
from contextlib import contextmanager
from typing import Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule

INTERPOLATIONS = ('bilinear', 'bicubic')


class FrozenImageEncoder(BaseModule):
    """A pretrained image encoder used as a fixed feature extractor.

    Parameters are frozen and the module stays in eval mode, but gradients
    flow through its input, so a loss on the features of a masked image can
    train the network that made the mask (PBIP's FG/BG images).

    Subclasses build ``self.model`` and implement :meth:`embed`.

    Args:
        input_size (int): Side the images are resized to.
        mean (Sequence[float]): Per-channel mean, RGB in [0, 1].
        std (Sequence[float]): Per-channel std, RGB in [0, 1].
        normalize (bool): Normalise with ``mean`` / ``std``. False when the
            caller already gives the encoder its input space (the released
            PBIP code feeds stretched, histology-normalised images to the
            encoder with no further normalisation). Defaults to True.
        interpolation (str): ``'bilinear'`` or ``'bicubic'`` resizing.
            Defaults to ``'bilinear'``.
        antialias (bool): Low-pass filter when resizing, as PIL (and so
            torchvision's ``Resize`` on a PIL image) always does. Defaults
            to False.
        center_crop (bool): Resize the shorter side to ``input_size`` and
            crop the centre square (torchvision's ``Resize(S)`` then
            ``CenterCrop(S)``: a non-square image keeps its aspect ratio);
            False squashes every image to ``S x S``. Defaults to False.
        crop_rounding (str): Offset of that crop when the margin is odd:
            ``'round'`` as torchvision's ``CenterCrop``, ``'floor'`` as
            transformers' image processors. Defaults to ``'round'``.
        resize_size (int, optional): Shorter side before the centre crop
            when it is not ``input_size`` (e.g. 256 then a 224 crop).
            Defaults to ``input_size``.
        init_cfg (dict, optional): Unused; weights come from the
            subclasses' own loaders.
    """

    out_channels: int = 0

    def __init__(self,
                 input_size: int,
                 mean: Sequence[float],
                 std: Sequence[float],
                 normalize: bool = True,
                 interpolation: str = 'bilinear',
                 antialias: bool = False,
                 center_crop: bool = False,
                 crop_rounding: str = 'round',
                 resize_size: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f'interpolation must be one of '
                             f'{INTERPOLATIONS}, got {interpolation!r}')
        self.input_size = int(input_size)
        self.normalize = normalize
        self.interpolation = interpolation
        self.antialias = bool(antialias)
        self.center_crop = bool(center_crop)
        if crop_rounding not in ('round', 'floor'):
            raise ValueError(f"crop_rounding must be 'round' or 'floor', "
                             f'got {crop_rounding!r}')
        self.crop_rounding = crop_rounding
        self.resize_size = int(resize_size or input_size)
        self.register_buffer(
            'mean',
            torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1),
            persistent=False)
        self.register_buffer(
            'std',
            torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1),
            persistent=False)

    def freeze(self) -> None:
        """Freeze every parameter and switch to eval mode."""
        for p in self.parameters():
            p.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True):
        """Stay in eval mode: the encoder is never trained."""
        return super().train(False)

    def init_weights(self) -> None:
        """Weights are loaded at construction; nothing to initialise."""

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        """Bring images to ``S x S`` as the model's published transform does.

        The cards resize PIL images: PIL filters width, then height, each
        pass clipped to uint8, and torchvision's ``Resize(S)`` /
        ``CenterCrop(S)`` or transformers' image processors fix the sizes.
        Here torchvision's tensor functions (PIL's antialiasing kernels) do
        the same passes in the same order, clipped to [0, 1] after each
        bicubic one when the input is RGB in [0, 1] (``normalize``), so the
        result equals the card's up to uint8 rounding and stays
        differentiable (the FG/BG images carry gradients).

        Args:
            images (Tensor): ``[B, 3, H, W]``.

        Returns:
            Tensor: ``[B, 3, S, S]``, ``S = input_size``; the input itself
            when nothing is to be done.
        """
        from torchvision.transforms.v2 import InterpolationMode
        from torchvision.transforms.v2 import functional as TF
        size = self.input_size
        height, width = images.shape[-2:]
        out_h, out_w = self.resized_shape(height, width)
        if (height, width) == (out_h, out_w) == (size, size):
            return images
        mode = InterpolationMode(self.interpolation)
        clip = self.normalize and self.interpolation == 'bicubic'
        # PIL's passes, width then height (one when nothing is clipped)
        passes = [(height, out_w)] if clip else []
        passes.append((out_h, out_w))
        out = images
        for shape in passes:
            if tuple(out.shape[-2:]) != shape:
                out = TF.resize(
                    out,
                    list(shape),
                    interpolation=mode,
                    antialias=self.antialias)
                out = out.clamp(0, 1) if clip else out
        if not self.center_crop:
            return out
        if self.crop_rounding == 'floor':  # transformers' image processors
            return TF.crop(out, (out_h - size) // 2, (out_w - size) // 2, size,
                           size)
        return TF.center_crop(out, [size, size])

    def resized_shape(self, height: int, width: int) -> Tuple[int, int]:
        """Size before the crop: ``S x S`` when squashing, else the shorter
        side to ``resize_size`` and the longer one scaled and truncated, as
        torchvision's ``Resize(n)`` and transformers' ``shortest_edge``."""
        if not self.center_crop:
            return self.input_size, self.input_size
        size = self.resize_size
        if height <= width:
            return size, int(size * width / height)
        return int(size * height / width), size

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Resize (:meth:`resize`) and (when ``normalize``) normalise.

        Args:
            images (Tensor): ``[B, 3, H, W]`` RGB in [0, 1], or already in
                the encoder's input space when ``normalize`` is False.

        Returns:
            Tensor: ``[B, 3, S, S]``, ``S = input_size``.
        """
        images = self.resize(images)
        if not self.normalize:
            return images
        return (images - self.mean) / self.std

    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        """Features of preprocessed images, ``[B, 3, S, S] -> [B, d]``."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Embed images.

        Args:
            images (Tensor): ``[B, 3, H, W]`` RGB in [0, 1].

        Returns:
            Tensor: ``[B, d]`` features (not normalised).
        """
        return self.embed(self.preprocess(images))

    @property
    def description(self) -> str:
        """str: Encoder type and weight source, stored in image banks."""
        return f'{type(self).__name__}({self.weights_source})'

    def fingerprint(self) -> str:
        """SHA-1 of the weights (names, shapes, values in order), stored in
        image banks: the same encoder has the same fingerprint wherever its
        files are, and any other weights have another one.

        Returns:
            str: 40 hex digits.
        """
        digest = hashlib.sha1()
        for name, value in self.state_dict().items():
            digest.update(f'{name}{tuple(value.shape)}{value.dtype}'.encode())
            digest.update(value.detach().cpu().contiguous().view(
                torch.uint8).numpy().tobytes())
        return digest.hexdigest()


RANDOM_INIT_SEED = 0


@contextmanager
def fixed_random_init(seed: int = RANDOM_INIT_SEED):
    """Build encoders under a fixed seed, global RNG state left untouched.

    Random weights (``allow_random_init=True``) are then the same in every
    process and every tool (a bank built by ``tools/build_image_bank.py``
    fits the training run's encoder, ranks agree), whatever the run's seed.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def check_weights(path: Optional[str], allow_random_init: bool, what: str,
                  where: str, owner: str) -> bool:
    """Decide between loading ``path`` and random weights.

    Args:
        path (str, optional): The weights the config names.
        allow_random_init (bool): Whether random weights are acceptable.
        what (str): The file or folder expected, for the message.
        where (str): Where users get it, for the message.
        owner (str): Name of the encoder, for messages.

    Returns:
        bool: True when ``path`` should be loaded, False for random weights.

    Raises:
        FileNotFoundError: No path and random weights not allowed, or the
            path does not exist.
    """
    if path:
        if not osp.exists(path):
            raise FileNotFoundError(
                f'{owner}: weights {path} not found; expected {what} '
                f'({where})')
        return True
    if not allow_random_init:
        raise FileNotFoundError(
            f'{owner}: no weights given; expected {what} ({where}). Set '
            'allow_random_init=True only to run without them on purpose.')
    print_log(
        f'{owner}: RANDOM INITIALISATION (allow_random_init=True), no '
        'pretrained weights loaded',
        logger='current',
        level=30)
    return False
