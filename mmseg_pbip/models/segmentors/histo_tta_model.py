"""``tools/test.py --tta`` for every mmseg-pbip config."""
from typing import List

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import SegTTAModel
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from .wsss_cam_segmentor import WSSSCAMSegmentor


@MODELS.register_module()
class HistoTTAModel(SegTTAModel):
    """MMSeg's :class:`SegTTAModel`, plus the CAM segmentors' merge.

    ``tta_model`` of the shared runtime, so that ``tools/test.py CONFIG
    CKPT --tta`` works for stage one and stage two alike. MMSeg's
    ``TestTimeAug`` pipeline (``tta_pipeline`` of the dataset bases) makes
    the views. For an ordinary segmentor (DeepLab, Mask2Former) this is
    :class:`SegTTAModel`: mean of the views' softmaxes.

    For a :class:`WSSSCAMSegmentor` (PBIP, PSCL stage one) the views'
    fused CAMs (each already the mean over the segmentor's own test-time
    views, flipped back by the segmentor) are averaged, and the pseudo mask
    of the mean is taken with the segmentor's own rules (label masking,
    glass on the image the views carry, background score): the released
    PBIP test-time augmentation is a plain mean of CAMs, where
    :class:`mmseg.models.SegTTAModel` would average softmaxes. This model
    changes nothing in the segmentor: its views come on top of the
    segmentor's own. For the released settings and the demo, whose own
    views include the flip, the pipeline's flip adds views already there:
    the mean, and so the mask, is that of ``tools/test.py`` without
    ``--tta`` (up to the order of a float sum) at twice the cost. The
    paper config has no flips of its own, so ``--tta`` adds one there. A
    segmentor with a CRF is refused (the CRF would run on every view).

    Args:
        module (dict | nn.Module): The segmentor (a
            :class:`WSSSCAMSegmentor` or any MMSeg segmentor).
        data_preprocessor (dict, optional): The segmentor's preprocessor
            when its config has none. MMEngine's :class:`BaseTTAModel` would
            let this one (the Runner passes the config's top-level
            ``data_preprocessor``, e.g. ImageNet statistics inherited from an
            MMSeg base) replace the segmentor's own; here the segmentor's
            own (histology statistics) is kept.
    """

    def __init__(self, module, data_preprocessor=None) -> None:
        if isinstance(module, dict) and \
                module.get('data_preprocessor') is not None:
            data_preprocessor = None
        super().__init__(module=module, data_preprocessor=data_preprocessor)
        self.merges_cams = isinstance(self.module, WSSSCAMSegmentor)
        if self.merges_cams and self.module.crf is not None:
            raise ValueError(
                'HistoTTAModel (tools/test.py --tta) with a CRF segmentor '
                '(model.crf): the CRF would run on every view; refine '
                'pseudo labels with tools/generate_pseudo_labels.py --crf')

    def merge_preds(
            self, data_samples_list: List[List[SegDataSample]]
    ) -> List[SegDataSample]:
        """Mean CAMs of each image's views, and their pseudo mask (for other
        segmentors, :meth:`SegTTAModel.merge_preds`).

        Args:
            data_samples_list (list[list[SegDataSample]]): Per image, its
                views' predictions (``seg_logits`` ``[N, H, W]`` in the
                original orientation, ``input_rgb`` ``[3, H, W]`` when the
                segmentor's rules read the image).

        Returns:
            list[SegDataSample]: One prediction per image, with
            ``seg_logits`` (mean CAMs) and ``pred_sem_seg`` ``[1, H, W]``.
        """
        if not self.merges_cams:
            return super().merge_preds(data_samples_list)
        merged = []
        for views in data_samples_list:
            cams = torch.stack([v.seg_logits.data for v in views]).mean(0)
            first = views[0]
            label = None
            if self.module.mask_cams_by_label and 'gt_cls_label' in first:
                label = first.gt_cls_label.to(cams)
            image = first.input_rgb.data if 'input_rgb' in first else None
            pred = self.module.labels_from_cams(cams, image, label)
            sample = SegDataSample(metainfo=dict(first.metainfo))
            for key in ('gt_sem_seg', 'gt_cls_label'):
                if key in first:
                    sample.set_field(first.get(key), key)
            sample.set_data(
                dict(
                    seg_logits=PixelData(data=cams),
                    pred_sem_seg=PixelData(data=pred[None])))
            merged.append(sample)
        return merged
