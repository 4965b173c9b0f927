"""PSCL: Swin CAM classifier with a pseudo-supervised contrastive loss."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from .wsss_cam_segmentor import WSSSCAMSegmentor

Tensor = torch.Tensor


@MODELS.register_module()
class PSCLSegmentor(WSSSCAMSegmentor):
    """Stage one of PSCL (O'Brien & Mashford), and its MLSM baseline.

    A Swin backbone and a :class:`CAMClsHead` on its last stage are trained
    with the head's classification loss (the multi-label soft-margin loss,
    :class:`MultiLabelSoftMarginLoss`) on the image-level labels, plus
    ``pscl_loss`` (:class:`PSCLLoss`; ``None`` gives the plain MLSM CAM
    baseline): ``L = L_MLSM + lambda_1 L_PSCL``. Pseudo masks are the argmax
    over the label-masked, max-normalised CAMs with a concatenated
    background map of score ``bg_score`` (and white glass as background).

    Args:
        backbone (dict): Backbone config (MMSeg ``SwinTransformer``).
        head (dict): :class:`CAMClsHead` config.
        pscl_loss (dict, optional): :class:`PSCLLoss` config.
        bg_score (float): Background map score for pseudo masks.
        **kwargs: :class:`WSSSCAMSegmentor` arguments.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 pscl_loss: Optional[dict] = None,
                 bg_score: float = 0.3,
                 mask_cams_by_label: bool = True,
                 white_threshold: Optional[float] = 200.,
                 tta_flips: Sequence[bool] = (False, ),
                 tta_intensities: Sequence[float] = (1.0, ),
                 crf: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            num_classes=head['num_classes'],
            mask_cams_by_label=mask_cams_by_label,
            white_threshold=white_threshold,
            bg_score=bg_score,
            tta_flips=tta_flips,
            tta_intensities=tta_intensities,
            crf=crf,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)
        self.pscl_loss = MODELS.build(pscl_loss) if pscl_loss else None

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """``[B, 3, H, W]`` -> Swin stage outputs ``[B, C_i, H_i, W_i]``."""
        return self.backbone(inputs)

    def _forward(self, inputs: Tensor, data_samples=None):
        """Head outputs (see :meth:`CAMClsHead.forward`)."""
        return self.head(self.extract_feat(inputs))

    def loss(self, inputs: Tensor,
             data_samples: List[SegDataSample]) -> Dict[str, Tensor]:
        """MLSM loss, plus the PSCL loss when configured."""
        labels = self.cls_labels(data_samples).to(inputs.dtype)
        out = self._forward(inputs)
        losses = self.head.loss(out, labels)
        if self.pscl_loss is not None:
            losses.update(self.pscl_loss(out['feats'], out['cams'], labels))
        return losses

    def _fused_cams_once(self, inputs: Tensor,
                         labels: Optional[Tensor]) -> Tensor:
        """Last-stage CAMs, upsampled and max-normalised per class."""
        cams = F.interpolate(
            self._forward(inputs)['cams'].relu(),
            size=inputs.shape[-2:],
            mode='bilinear',
            align_corners=False)
        if labels is not None:
            cams = cams * labels[:, :, None, None]
        return cams / (cams.amax((2, 3), keepdim=True) + 1e-5)
