"""Base class of the frozen image encoders that embed whole images."""
import hashlib
import os.path as osp
from contextlib import contextmanager
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule


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
        init_cfg (dict, optional): Unused; weights come from the
            subclasses' own loaders.
    """

    out_channels: int = 0

    def __init__(self,
                 input_size: int,
                 mean: Sequence[float],
                 std: Sequence[float],
                 normalize: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.input_size = int(input_size)
        self.normalize = normalize
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

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Resize and (when ``normalize``) normalise.

        Args:
            images (Tensor): ``[B, 3, H, W]`` RGB in [0, 1], or already in
                the encoder's input space when ``normalize`` is False.

        Returns:
            Tensor: ``[B, 3, S, S]``, ``S = input_size``.
        """
        if images.shape[-2:] != (self.input_size, self.input_size):
            images = F.interpolate(
                images,
                size=(self.input_size, self.input_size),
                mode='bilinear',
                align_corners=False)
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
