"""Image loading that names the file when it cannot be decoded."""
from typing import Optional

from mmcv.transforms import LoadImageFromFile
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadHistoImageFromFile(LoadImageFromFile):
    """:class:`mmcv.transforms.LoadImageFromFile` with clear errors.

    A missing, empty, truncated or non-image file raises ``ValueError``
    (``FileNotFoundError`` when missing) naming the file, instead of an
    ``AssertionError`` or a decoder message without the path. Images must
    decode to ``expected_channels`` channels.

    Args:
        expected_channels (int, optional): Required channel count of the
            decoded image, ``None`` to accept any. Defaults to 3.
        **kwargs: Passed to :class:`LoadImageFromFile`.
    """

    def __init__(self, expected_channels: Optional[int] = 3, **kwargs):
        super().__init__(**kwargs)
        self.expected_channels = expected_channels

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            out = super().transform(results)
        except FileNotFoundError as e:
            raise FileNotFoundError(f'{filename}: image file not found') from e
        except Exception as e:  # decoder errors come in many types
            if self.ignore_empty:
                return None
            raise ValueError(f'{filename}: cannot be read as an image '
                             f'(empty, truncated or not an image): {e}') from e
        if out is None:
            return None
        img = out['img']
        channels = 1 if img.ndim == 2 else img.shape[2]
        if self.expected_channels is not None and \
                channels != self.expected_channels:
            raise ValueError(
                f'{filename}: image has {channels} channel(s), expected '
                f'{self.expected_channels}')
        return out

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] +
                f', expected_channels={self.expected_channels})')
