"""``tools/test.py --tta`` for every mmseg-pbip config."""
from typing import List

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import SegTTAModel
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample


@MODELS.register_module()
class HistoTTAModel(SegTTAModel):
    """MMSeg's :class:`SegTTAModel`, plus the CAM segmentors' merge.

    ``tta_model`` of the shared runtime, so that ``tools/test.py CONFIG
    CKPT --tta`` works for stage one and stage two alike. MMSeg's
    ``TestTimeAug`` pipeline (``tta_pipeline`` of the dataset bases) makes
    the views. For an ordinary segmentor (DeepLab, Mask2Former) this is
    :class:`SegTTAModel`: mean of the views' softmaxes.

    For a :class:`WSSSCAMSegmentor` (PBIP, PSCL stage one) each view goes
    through the segmentor, which flips its fused CAMs back; this model
    averages the CAMs of the views
    (the released PBIP test-time augmentation is a plain mean of the CAMs,
    where :class:`mmseg.models.SegTTAModel` would average softmaxes) and
    takes the pseudo mask of the mean with the segmentor's own rules
    (label masking, glass, background score, CRF).

    The segmentor's intensity factors (``tta_intensities``) stay inside it:
    they multiply the normalised tensor, which no pipeline transform
    reaches. Its own flips (``tta_flips``) are switched off, since the
    pipeline makes them. For a config whose own flips are those of the
    shipped pipeline (``tta_flips=(False, True)``: the released settings and
    the demo) and whose test pipeline does not resize, the views are those
    of ``tools/test.py`` without ``--tta``, and so are the CAMs and masks
    (up to the order of a float sum). The paper config has no flips of its
    own, so ``--tta`` adds one there.

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
        self.merges_cams = hasattr(self.module, 'labels_from_cams')
        if self.merges_cams:
            self.module.tta_flips = [False]
            self.module.tta_merge = True

    def merge_preds(
            self, data_samples_list: List[List[SegDataSample]]
    ) -> List[SegDataSample]:
        """Mean CAMs of each image's views, and their pseudo mask (for other
        segmentors, :meth:`SegTTAModel.merge_preds`).

        Args:
            data_samples_list (list[list[SegDataSample]]): Per image, its
                views' predictions (``seg_logits`` ``[N, H, W]`` in the
                original orientation, ``tta_image`` ``[3, H, W]``).

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
            pred = self.module.labels_from_cams(cams, first.tta_image.data,
                                                label)
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
