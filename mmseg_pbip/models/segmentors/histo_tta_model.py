"""``tools/test.py --tta`` for every mmseg-pbip config."""
from typing import List

from mmseg.models.segmentors import SegTTAModel
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from .wsss_cam_segmentor import WSSSCAMSegmentor


@MODELS.register_module()
class HistoTTAModel(SegTTAModel):
    """MMSeg's :class:`SegTTAModel` that keeps the segmentor's own preprocessor
    and leaves the CAM models' test-time augmentation to them.

    ``tta_model`` of the shared runtime, so that ``tools/test.py CONFIG
    CKPT --tta`` works for every config. MMSeg's ``TestTimeAug`` pipeline
    (``tta_pipeline`` of the runtime) makes the views. For an ordinary
    segmentor (DeepLab, SegFormer, Mask2Former) this is
    :class:`SegTTAModel`: the image as it is and flipped, mean of the views'
    softmaxes.

    A :class:`WSSSCAMSegmentor` (PBIP, PSCL stage one) makes its own views
    (``tta_flips`` x ``tta_intensities``; the released settings: flip x
    {0.9, 1.0, 1.1} on the normalised tensor), in ``tools/test.py`` with
    or without ``--tta``: its runtime (``configs/_base_/cam_runtime.py``)
    gives it one pipeline view, whose prediction is returned as it is, so
    ``--tta`` gives exactly the plain test's CAMs and masks. Several views
    of a CAM model are refused: they would be a second test-time
    augmentation beside the model's own (and a softmax mean of CAMs would
    drop their mask rules).

    Args:
        module (dict | nn.Module): The segmentor.
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

    def merge_preds(
            self, data_samples_list: List[List[SegDataSample]]
    ) -> List[SegDataSample]:
        """One prediction per image from its views' predictions.

        Args:
            data_samples_list (list[list[SegDataSample]]): Per image, its
                views' predictions.

        Returns:
            list[SegDataSample]: For a CAM model, each image's one view as
            it is; otherwise :meth:`SegTTAModel.merge_preds`.

        Raises:
            ValueError: A CAM model got several views.
        """
        if not isinstance(self.module, WSSSCAMSegmentor):
            return super().merge_preds(data_samples_list)
        views = {len(v) for v in data_samples_list}
        if views != {1}:
            raise ValueError(
                f'{type(self.module).__name__} makes its own test-time views '
                '(tta_flips x tta_intensities), but the tta_pipeline gave '
                f'{max(views)} per image: give CAM models a one-view '
                'tta_pipeline (configs/_base_/cam_runtime.py)')
        return [v[0] for v in data_samples_list]
