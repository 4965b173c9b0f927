"""PBIP: weakly supervised segmentor trained from image-level labels."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

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

    In ``predict`` mode (averaged over the configured test-time flips and
    intensity factors) the CAMs of every stage are upsampled, masked by the
    image-level label when the sample carries one (``gt_cls_label``; the
    standard protocol for pseudo masks), min-max normalised per class, fused
    with ``cam_fusion_weights`` and arg-maxed; pixels brighter than
    ``white_threshold`` become background (index ``num_classes``).

    Args:
        backbone (dict): Backbone config.
        head (dict): :class:`PrototypeSimHead` config.
        image_encoder (dict): Frozen encoder config (the bank's encoder).
        cls_loss (dict): :class:`MultiStageClsLoss` config.
        match_loss (dict, optional): :class:`ImgMatchLoss` config.
        train_merge (str): Subclass merge in training. Defaults to 'mean'.
        test_merge (str): Subclass merge at test. Defaults to 'max'.
        cam_fusion_weights (Sequence[float]): Weight of every head stage in
            the fused CAM. Defaults to (0, 0.3, 0.3, 0.4).
        mask_cams_by_label (bool): Zero classes absent from
            ``gt_cls_label``. Defaults to True.
        white_threshold (float, optional): Grey level (0-255) above which a
            pixel is background; None to never mark background.
        tta_flips (Sequence[bool]): Test-time horizontal flips, e.g.
            ``(False, True)`` as released. Defaults to ``(False, )``.
        tta_intensities (Sequence[float]): Test-time intensity factors on
            the [0, 1] image, e.g. ``(0.9, 1.0, 1.1)`` as released.
            Defaults to ``(1.0, )``.
        data_preprocessor (dict, optional): ``SegDataPreProcessor`` config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 image_encoder: dict,
                 cls_loss: dict,
                 match_loss: Optional[dict] = None,
                 train_merge: str = 'mean',
                 test_merge: str = 'max',
                 cam_fusion_weights: Sequence[float] = (0., 0.3, 0.3, 0.4),
                 mask_cams_by_label: bool = True,
                 white_threshold: Optional[float] = 200.,
                 tta_flips: Sequence[bool] = (False, ),
                 tta_intensities: Sequence[float] = (1.0, ),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            head['num_classes'], mask_cams_by_label, white_threshold, None,
            tta_flips, tta_intensities, data_preprocessor, init_cfg)
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)
        self.image_encoder = MODELS.build(image_encoder)
        self.cls_loss = MODELS.build(cls_loss)
        self.match_loss = MODELS.build(match_loss) if match_loss else None
        if self.image_encoder.out_channels != self.head.prototype_dim:
            raise ValueError(
                f'image_encoder gives {self.image_encoder.out_channels}-d '
                f'features but head.prototype_dim is '
                f'{self.head.prototype_dim}')
        if len(cam_fusion_weights) != len(self.head.stages):
            raise ValueError(
                f'cam_fusion_weights has {len(cam_fusion_weights)} entries '
                f'for {len(self.head.stages)} head stages')
        self.train_merge = train_merge
        self.test_merge = test_merge
        self.cam_fusion_weights = [float(w) for w in cam_fusion_weights]

    def select_pairs(self, out: Dict[str, List[Tensor]],
                     labels: Tensor) -> Tensor:
        """(image, subclass) pairs that get FG/BG images.

        A subclass qualifies when its class is in the label and its
        last-stage score beats its class's merged score.

        Returns:
            Tensor: ``[S, 2]`` long.
        """
        proto_class = torch.repeat_interleave(
            torch.arange(self.num_classes, device=labels.device),
            self.head.k_per_class)
        sub = out['sub_scores'][-1]  # [B, P]
        cls = out['cls_scores'][-1][:, proto_class]  # [B, P]
        keep = (labels[:, proto_class] > 0) & (sub > cls)
        return keep.nonzero()

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
        losses = dict(loss_cls=self.cls_loss(out['cls_scores'], labels))
        if self.match_loss is not None:
            pairs = self.select_pairs(out, labels)
            losses.update(
                self.match_loss(self.images_01(inputs), out['sub_cams'][-1],
                                pairs, self.image_encoder,
                                self.head.prototypes))
        return losses

    def _fused_cams_once(self, inputs: Tensor,
                         labels: Optional[Tensor]) -> Tensor:
        """Fused CAMs of one (augmented) input, ``[B, N, H, W]``."""
        out = self._forward(inputs)
        fused = 0
        for w, cam in zip(self.cam_fusion_weights, out['cams']):
            if not w:
                continue
            cam = F.interpolate(cam.relu(), size=inputs.shape[-2:],
                                mode='bilinear', align_corners=False)
            if labels is not None:
                cam = cam * labels[:, :, None, None]
            lo = cam.amin((2, 3), keepdim=True)
            hi = cam.amax((2, 3), keepdim=True)
            fused = fused + w * (cam - lo) / (hi - lo + 1e-5)
        return fused

