"""Base of the segmentors whose predictions are CAM pseudo masks."""
import copy
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from ..utils.dense_crf import DenseCRF
from ..utils.image_space import inputs_to_rgb01

Tensor = torch.Tensor


class WSSSCAMSegmentor(BaseSegmentor):
    """Shared inference of the weakly supervised (CAM) segmentors.

    Subclasses implement :meth:`_fused_cams_once` (``[B, N, H, W]`` class
    maps in [0, 1] of one input). This class averages them over test-time
    flips x intensity factors (the factors multiply the network input, the
    normalised tensor, as the released PBIP code's TTA does), takes the
    argmax, marks as background (index ``num_classes``) the pixels whose
    best score is below ``bg_score`` (a concatenated constant background
    map) and those brighter than ``white_threshold`` (glass), and restores
    the original size. The subclasses mask classes absent from the
    image-level label (when the sample carries ``gt_cls_label``).

    Args:
        num_classes (int): Tissue classes ``N``; background is ``N``.
        mask_cams_by_label (bool): Zero classes absent from the label.
        white_threshold (float, optional): Grey level (0-255) above which a
            pixel is background; None to never mark glass.
        bg_score (float, optional): Score of a concatenated background map;
            None for none.
        tta_flips (Sequence[bool]): Test-time horizontal flips.
        tta_intensities (Sequence[float]): Test-time intensity factors,
            multiplying the network input.
        argmax_present_only (bool): With label masking, take the argmax
            over the labelled classes only (a pixel where every labelled
            class scores 0 then gets a labelled class, not the first absent
            one). False is a plain argmax over all classes, as released.
        crf (dict, optional): :class:`DenseCRF` arguments: refine the tissue
            labels of every prediction with a dense CRF on the fused CAMs of
            the labelled classes and the image (pixels the background rules
            marked stay background). None (every shipped config) for none;
            ``tools/generate_pseudo_labels.py --crf`` turns it on.
        data_preprocessor (dict, optional): ``SegDataPreProcessor`` config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 num_classes: int,
                 mask_cams_by_label: bool = True,
                 white_threshold: Optional[float] = 200.,
                 bg_score: Optional[float] = None,
                 tta_flips: Sequence[bool] = (False, ),
                 tta_intensities: Sequence[float] = (1.0, ),
                 argmax_present_only: bool = True,
                 crf: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.crf = DenseCRF(**crf) if crf is not None else None
        self.num_classes = num_classes
        self.mask_cams_by_label = mask_cams_by_label
        self.white_threshold = white_threshold
        self.bg_score = bg_score
        if not tta_flips or not tta_intensities:
            raise ValueError(
                'tta_flips and tta_intensities need at least one value each '
                '(one plain view: (False, ) and (1.0, ))')
        self.tta_flips = [bool(f) for f in tta_flips]
        self.tta_intensities = [float(f) for f in tta_intensities]
        self.argmax_present_only = argmax_present_only

    def images_01(self, inputs: Tensor) -> Tensor:
        """Undo the data preprocessor: ``[B, 3, H, W]`` RGB in [0, 1].

        See :func:`~mmseg_pbip.models.utils.image_space.inputs_to_rgb01`
        (the image bank's ``input_space='rgb01'`` uses the same conversion).
        """
        return inputs_to_rgb01(inputs, self.data_preprocessor)

    @staticmethod
    def cls_labels(data_samples: List[SegDataSample]) -> Tensor:
        """``[B, N]`` image-level labels of the batch."""
        missing = [
            i for i, s in enumerate(data_samples) if 'gt_cls_label' not in s
        ]
        if missing:
            raise KeyError(
                'weakly supervised training needs image-level labels, but '
                f'samples '
                f"{missing} have no 'gt_cls_label' (use PackHistoSegInputs)")
        return torch.stack([s.gt_cls_label for s in data_samples])

    def _fused_cams_once(self, inputs: Tensor,
                         labels: Optional[Tensor]) -> Tensor:
        """``[B, N, H, W]`` class maps in [0, 1] of one input."""
        raise NotImplementedError

    def fused_cams(self,
                   inputs: Tensor,
                   labels: Optional[Tensor] = None) -> Tensor:
        """Fused, normalised class activation maps, averaged over the test-time
        views (``tta_flips`` x ``tta_intensities``, each view flipped, then
        multiplied; a model built from :func:`without_test_views` has one).

        Args:
            inputs (Tensor): ``[B, 3, H, W]`` preprocessed images.
            labels (Tensor, optional): ``[B, N]`` image-level labels.

        Returns:
            Tensor: ``[B, N, H, W]`` in [0, 1].
        """
        if (tuple(self.tta_flips) == (False, )
                and tuple(self.tta_intensities) == (1.0, )):
            return self._fused_cams_once(inputs, labels)
        total = 0
        for flip in self.tta_flips:
            for factor in self.tta_intensities:
                x = inputs.flip(-1) if flip else inputs
                cams = self._fused_cams_once(x * factor, labels)
                total = total + (cams.flip(-1) if flip else cams)
        return total / (len(self.tta_flips) * len(self.tta_intensities))

    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]):
        """Fused CAMs without label masking, ``[B, N, H, W]``."""
        return self.fused_cams(inputs)

    def predict(
        self,
        inputs: Tensor,
        data_samples: Optional[List[SegDataSample]] = None
    ) -> List[SegDataSample]:
        """Pseudo masks: ``pred_sem_seg`` ``[1, H, W]`` with tissue classes
        0..N-1 and background N, and the fused CAMs as ``seg_logits``.

        A flipped input (``flip`` in its metainfo) is flipped back first."""
        if data_samples is None:
            data_samples = [SegDataSample() for _ in range(inputs.shape[0])]
        labels = None
        if self.mask_cams_by_label and all('gt_cls_label' in s
                                           for s in data_samples):
            labels = self.cls_labels(data_samples).to(inputs.dtype)
        cams = self.fused_cams(inputs, labels)
        # the image, only where something reads it (glass, CRF)
        images = self.images_01(inputs) if (self.white_threshold is not None
                                            or self.crf is not None) else None
        for i, sample in enumerate(data_samples):
            h, w = sample.metainfo.get('img_shape', inputs.shape[-2:])
            logits = cams[i, :, :h, :w]
            image = None if images is None else images[i, :, :h, :w]
            if sample.metainfo.get('flip'):
                dims = {
                    'horizontal': (-1, ),
                    'vertical': (-2, ),
                    'diagonal': (-2, -1)
                }[sample.flip_direction]
                logits = logits.flip(dims)
                image = None if image is None else image.flip(dims)
            seg = self.labels_from_cams(logits, image,
                                        None if labels is None else labels[i])
            ori = sample.metainfo.get('ori_shape', (h, w))
            if tuple(ori) != (h, w):
                logits = F.interpolate(
                    logits[None], size=ori, mode='bilinear')[0]
                seg = F.interpolate(
                    seg[None, None].float(), size=ori,
                    mode='nearest')[0, 0].long()
            sample.set_data(
                dict(
                    seg_logits=PixelData(data=logits),
                    pred_sem_seg=PixelData(data=seg[None])))
        return data_samples

    def labels_from_cams(self, cams: Tensor, image: Optional[Tensor],
                         label: Optional[Tensor]) -> Tensor:
        """Pseudo mask of one image from its fused CAMs.

        Args:
            cams (Tensor): ``[N, H, W]`` fused CAMs.
            image (Tensor, optional): ``[3, H, W]`` RGB in [0, 1]; read for
                glass (``white_threshold``) and the CRF only.
            label (Tensor, optional): ``[N]`` image-level label; with
                ``argmax_present_only`` the argmax runs over its classes.

        Returns:
            Tensor: ``[H, W]`` long, tissue classes 0..N-1, background N.
        """
        if label is not None and self.argmax_present_only:
            pred = cams.masked_fill(label[:, None, None] == 0, -1.).argmax(0)
        else:
            pred = cams.argmax(0)
        if self.bg_score is not None:
            pred = pred.masked_fill(
                cams.amax(0) < self.bg_score, self.num_classes)
        if self.white_threshold is not None:
            grey = image.mean(0) * 255
            pred = pred.masked_fill(grey > self.white_threshold,
                                    self.num_classes)
        if self.crf is not None:  # on the image, padding left out
            pred = self.crf_refined(image, cams, pred, label)
        return pred

    def crf_refined(self, image: Tensor, cams: Tensor, pred: Tensor,
                    label: Optional[Tensor]) -> Tensor:
        """Tissue labels of one prediction refined by :attr:`crf`.

        Args:
            image (Tensor): ``[3, H, W]`` RGB in [0, 1].
            cams (Tensor): ``[N, H, W]`` fused CAMs.
            pred (Tensor): ``[H, W]`` labels, background ``N``.
            label (Tensor, optional): ``[N]`` image-level label; the CRF
                chooses among the labelled classes (all when None).

        Returns:
            Tensor: ``[H, W]``; background pixels unchanged.
        """
        rgb = (image * 255).round().byte().permute(1, 2, 0).cpu().numpy()
        present = None if label is None else label.cpu().numpy() > 0
        refined = torch.from_numpy(
            self.crf(rgb,
                     cams.detach().float().cpu().numpy(), present))
        return torch.where(pred == self.num_classes, pred,
                           refined.to(pred.device))


def without_test_views(model_cfg: dict) -> dict:
    """The config of a segmentor that predicts from one plain view.

    For a :class:`WSSSCAMSegmentor` config, a copy whose test-time views
    (``tta_flips`` x ``tta_intensities``) are the input as it is: the
    released PBIP code makes pseudo labels this way, and slides are mapped
    this way unless asked otherwise. Other segmentors have no views of their
    own; their config is copied as it is.

    Args:
        model_cfg (dict): A ``model`` config (registry ``type``).

    Returns:
        dict: The config to build.
    """
    model_type = model_cfg['type']
    cls = MODELS.get(model_type) if isinstance(model_type, str) else model_type
    model_cfg = copy.deepcopy(model_cfg)
    if not (isinstance(cls, type) and issubclass(cls, WSSSCAMSegmentor)):
        return model_cfg
    model_cfg.update(tta_flips=(False, ), tta_intensities=(1.0, ))
    return model_cfg
