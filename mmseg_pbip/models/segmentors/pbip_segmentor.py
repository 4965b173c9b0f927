"""PBIP: weakly supervised segmentor trained from image-level labels."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from ..utils.switch_rules import MODEL_RULES, check_switches, pbip_switches
from .wsss_cam_segmentor import WSSSCAMSegmentor

Tensor = torch.Tensor


@MODELS.register_module()
class PBIPSegmentor(WSSSCAMSegmentor):
    """Prototype-Based Image Prompting (Tang et al., CVPR 2025), stage one.

    ``backbone`` (MMSeg's ``MixVisionTransformer``) gives multi-scale
    features; ``head`` (:class:`PrototypeSimHead`) matches them to the
    image-bank prototypes, giving CAMs and class scores; ``cls_loss`` trains
    the class scores on the image-level labels; ``match_loss``
    (:class:`ImgMatchLoss`, ``None`` for the classification-only ablation)
    re-encodes CAM-masked images with the frozen ``image_encoder``.

    Which maps and pairs feed the match loss (``match_cams``):

    - ``'subclass'`` (released): the raw subclass maps of the head stage
      ``match_stages[0]`` (the last); a pair (image, subclass ``k``) is
      selected when ``k``'s class is in the label and ``k``'s pooled score
      beats its class's merged score at that stage;
    - ``'class'`` (paper, eq. 3): ``M' = sum_i Up(M_i)``, the class maps
      (``train_merge``) of the stages ``match_stages`` upsampled to the
      image (bilinear, ``align_corners=True``) and summed; every class of
      the label is a pair, its K subclass prototypes the positives.

    In ``predict`` mode each head stage's class maps (``test_merge``) are
    ReLU'd, min-max normalised per class at feature resolution, multiplied
    by the image-level label when the sample carries one
    (``gt_cls_label``; the standard protocol for pseudo masks), upsampled
    to the input (bilinear, ``align_corners=True``) and fused with
    ``cam_fusion_weights``; the fused maps are averaged over the test-time
    views and arg-maxed over the tissue classes (released order).

    Switch values that do not go together (e.g. ``contrast='paper'`` of
    the match loss with ``match_cams='subclass'``) are refused here, with
    one ValueError naming every violated rule (see
    :mod:`mmseg_pbip.models.utils.switch_rules`).

    Args:
        backbone (dict): Backbone config.
        head (dict): :class:`PrototypeSimHead` config; ``prototype_dim=None``
            takes the image encoder's feature size (one config line then
            swaps encoders of any width).
        image_encoder (dict): Frozen encoder config (the bank's encoder).
        cls_loss (dict): :class:`MultiStageClsLoss` config.
        match_loss (dict, optional): :class:`ImgMatchLoss` config.
        match_cams (str): 'subclass' or 'class'. Defaults to 'subclass'.
        match_stages (Sequence[int]): Head stages (positions in
            ``head.stages``) whose maps feed the match loss. Defaults to
            ``(-1, )``, the last.
        train_merge (str): Subclass merge in training. Defaults to 'mean'.
        test_merge (str): Subclass merge at test. Defaults to 'max'.
        cam_fusion_weights (Sequence[float]): Weight of every head stage in
            the fused CAM. Defaults to (0, 0.3, 0.3, 0.4).
        mask_cams_by_label (bool): Zero classes absent from
            ``gt_cls_label``. Defaults to True.
        white_threshold (float, optional): Grey level (0-255) above which a
            pixel is background; None (released) to never mark background.
        tta_flips (Sequence[bool]): Test-time horizontal flips, e.g.
            ``(False, True)`` as released. Defaults to ``(False, )``.
        tta_intensities (Sequence[float]): Test-time factors multiplying
            the network input, e.g. ``(0.9, 1.0, 1.1)`` as released.
            Defaults to ``(1.0, )``.
        argmax_present_only (bool): See :class:`WSSSCAMSegmentor`.
            Defaults to False (released).
        crf (dict, optional): Dense CRF refinement of the predictions (see
            :class:`WSSSCAMSegmentor`). Defaults to None.
        data_preprocessor (dict, optional): ``SegDataPreProcessor`` config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 image_encoder: dict,
                 cls_loss: dict,
                 match_loss: Optional[dict] = None,
                 match_cams: str = 'subclass',
                 match_stages: Sequence[int] = (-1, ),
                 train_merge: str = 'mean',
                 test_merge: str = 'max',
                 cam_fusion_weights: Sequence[float] = (0., 0.3, 0.3, 0.4),
                 mask_cams_by_label: bool = True,
                 white_threshold: Optional[float] = None,
                 tta_flips: Sequence[bool] = (False, ),
                 tta_intensities: Sequence[float] = (1.0, ),
                 argmax_present_only: bool = False,
                 crf: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            num_classes=head['num_classes'],
            mask_cams_by_label=mask_cams_by_label,
            white_threshold=white_threshold,
            bg_score=None,
            tta_flips=tta_flips,
            tta_intensities=tta_intensities,
            argmax_present_only=argmax_present_only,
            crf=crf,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        if head.get('prototype_dim', 512) is None:
            # the prototypes are the encoder's features: take its size
            self.image_encoder = MODELS.build(image_encoder)
            head = dict(head, prototype_dim=self.image_encoder.out_channels)
            self.head = MODELS.build(head)
        else:
            self.head = MODELS.build(head)
            self.image_encoder = MODELS.build(image_encoder)
        self.cls_loss = MODELS.build(cls_loss)
        self.match_loss = MODELS.build(match_loss) if match_loss else None
        self.match_cams = match_cams
        self.match_stages = list(match_stages)
        self.train_merge = train_merge
        self.test_merge = test_merge
        self.cam_fusion_weights = [float(w) for w in cam_fusion_weights]
        # refuse switch values that do not go together (one error, all rules)
        check_switches(pbip_switches(self), MODEL_RULES, 'PBIPSegmentor')

    @property
    def proto_class(self) -> Tensor:
        """``[P]`` class index of every prototype."""
        k = self.head.k_per_class
        return torch.repeat_interleave(
            torch.arange(self.num_classes, device=k.device), k)

    def select_pairs(self, out: Dict[str, List[Tensor]],
                     labels: Tensor) -> Tensor:
        """(image, map) pairs that get FG/BG images.

        ``'subclass'``: a subclass qualifies when its class is in the label
        and its pooled score at the match stage beats its class's merged
        score there. ``'class'``: every labelled class.

        Returns:
            Tensor: ``[S, 2]`` long.
        """
        if self.match_cams == 'class':
            return (labels > 0).nonzero()
        stage = self.match_stages[0]
        proto_class = self.proto_class
        sub = out['sub_scores'][stage]  # [B, P]
        cls = out['cls_scores'][stage][:, proto_class]  # [B, P]
        keep = (labels[:, proto_class] > 0) & (sub > cls)
        return keep.nonzero()

    def match_maps(self, out: Dict[str, List[Tensor]],
                   size: Sequence[int]) -> Tensor:
        """Maps the match loss reads: ``[B, P, h, w]`` subclass maps of the
        match stage, or ``[B, N, H, W]`` summed upsampled class maps."""
        if self.match_cams == 'subclass':
            return out['sub_cams'][self.match_stages[0]]
        return sum(
            F.interpolate(
                out['cams'][s], size=size, mode='bilinear', align_corners=True)
            for s in self.match_stages)

    # -- BaseSegmentor API --------------------------------------------------
    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """``[B, 3, H, W]`` -> backbone features ``[B, C_i, H_i, W_i]``."""
        return self.backbone(inputs)

    def _forward(self, inputs: Tensor, data_samples=None):
        """Head outputs (see :meth:`PrototypeSimHead.forward`)."""
        return self.head(self.extract_feat(inputs), merge=self.test_merge)

    def loss(self, inputs: Tensor,
             data_samples: List[SegDataSample]) -> Dict[str, Tensor]:
        """Classification loss and, when configured, the ImgMatch loss."""
        labels = self.cls_labels(data_samples).to(inputs.dtype)
        out = self.head(self.extract_feat(inputs), merge=self.train_merge)
        losses = {
            self.cls_loss.loss_name: self.cls_loss(out['cls_scores'], labels)
        }
        if self.match_loss is not None:
            images = inputs if self.match_loss.image_space == 'inputs' \
                else self.images_01(inputs)
            own = None
            if self.match_cams == 'class':  # class j <-> its prototypes
                own = self.proto_class[None] == torch.arange(
                    self.num_classes, device=inputs.device)[:, None]
            losses.update(
                self.match_loss(images,
                                self.match_maps(out, inputs.shape[-2:]),
                                self.select_pairs(out, labels),
                                self.image_encoder, self.head.prototypes, own))
        return losses

    def _fused_cams_once(self, inputs: Tensor,
                         labels: Optional[Tensor]) -> Tensor:
        """Fused CAMs of one (augmented) input, ``[B, N, H, W]``."""
        out = self._forward(inputs)
        fused = 0
        for w, cam in zip(self.cam_fusion_weights, out['cams']):
            if not w:
                continue
            cam = cam.relu()
            lo = cam.amin((2, 3), keepdim=True)
            hi = cam.amax((2, 3), keepdim=True)
            cam = (cam - lo) / (hi - lo + 1e-6)
            if labels is not None:
                cam = cam * labels[:, :, None, None]
            fused = fused + w * F.interpolate(
                cam,
                size=inputs.shape[-2:],
                mode='bilinear',
                align_corners=True)
        return fused
