"""``tools/test.py --tta``: MMSeg's TestTimeAug views merged by HistoTTAModel
(SegTTAModel; a CAM model's one view as it is, its own views inside)."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmseg.registry import DATASETS, MODELS
from PIL import Image
from utils import PBIP_DEMO, STAGE2_DEMO, build_model

from mmseg_pbip.models.segmentors import WSSSCAMSegmentor


def tta_views(cfg, root):
    """The config's test set at ``root`` through its ``tta_pipeline``, as
    ``tools/test.py --tta`` does; the first image collated as the test loop
    does (one list entry per view)."""
    dataset = cfg.test_dataloader.dataset
    dataset.update(data_root=root, pipeline=cfg.tta_pipeline)
    return pseudo_collate([DATASETS.build(dataset)[0]])


def write_case(tmp_path):
    """A BCSS-WSSS test split of one 48 x 40 image with glass in a corner and a
    mask of TUM (0) and LYM (2)."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 200, (48, 40, 3), dtype=np.uint8)  # not square
    img[:6, :6] = 255  # glass in a corner: background by the white rule
    mask = np.zeros((48, 40), np.uint8)
    mask[:, 20:] = 2
    root = tmp_path / 'data'
    for sub in ('test/img', 'test/mask'):
        (root / sub).mkdir(parents=True)
    Image.fromarray(img).save(str(root / 'test/img/a.png'))
    Image.fromarray(mask).save(str(root / 'test/mask/a.png'))
    return str(root)


def test_cam_tta_is_the_models_own(demo_root, tmp_path):
    """``--tta`` on a CAM config: one pipeline view, the segmentor's own
    released views inside it; exactly the plain test's CAMs and mask."""
    cfg = Config.fromfile(PBIP_DEMO)
    assert cfg.tta_model.type == 'HistoTTAModel'
    intensities = list(cfg.model.tta_intensities)
    assert list(cfg.model.tta_flips) == [False, True]
    assert len(intensities) > 1
    model = build_model(demo_root, tmp_path, white_threshold=200.).eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    tta = MODELS.build(dict(type='HistoTTAModel', module=model))
    data = tta_views(cfg, write_case(tmp_path))
    assert len(data['inputs']) == 1  # one view, a batch of one image
    plain_data = dict(
        inputs=[data['inputs'][0][0]],
        data_samples=[copy.deepcopy(data['data_samples'][0][0])])
    with torch.no_grad():
        out = tta.test_step(data)[0]
        plain_out = model.test_step(plain_data)[0]
        # expected: every (flip, factor) view computed one by one on the
        # plain input, flipped back, averaged (the released TTA)
        plain = model.data_preprocessor(plain_data, False)
        x = plain['inputs']
        label = plain['data_samples'][0].gt_cls_label[None]
        assert label.tolist() == [[1., 0., 1., 0.]]  # from the mask
        views = []
        for flip in (False, True):
            for factor in intensities:
                v = x.flip(-1) if flip else x
                cams = model._fused_cams_once(v * factor, label)
                views.append(cams.flip(-1) if flip else cams)
        expected = (sum(views) / len(views))[0, :, :48, :40]
    # the wrapper changed nothing in the segmentor
    assert model.tta_flips == [False, True]
    assert model.tta_intensities == intensities
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert out.seg_logits.data.shape == (4, 48, 40)
    assert torch.allclose(out.seg_logits.data, expected, atol=1e-6)
    # exactly the plain test's prediction
    assert torch.equal(out.seg_logits.data, plain_out.seg_logits.data)
    assert torch.equal(out.pred_sem_seg.data, plain_out.pred_sem_seg.data)
    # the mask of the mean CAMs: argmax over the labelled classes (0, 2),
    # glass corner background (4)
    pred = out.pred_sem_seg.data[0]
    masked = expected.clone()
    masked[[1, 3]] = -1
    want = masked.argmax(0)
    want[:6, :6] = 4
    assert torch.equal(pred, want)
    assert set(pred.unique().tolist()) <= {0, 2, 4}
    assert out.gt_sem_seg.data.shape == (1, 48, 40)
    assert osp.basename(out.img_path) == 'a.png'


def test_cam_model_refuses_pipeline_views(demo_root, tmp_path):
    """Several pipeline views would be a second TTA beside the CAM model's
    own: refused, naming the one-view runtime."""
    flips = Config.fromfile(STAGE2_DEMO)
    cfg = Config.fromfile(PBIP_DEMO)
    cfg.tta_pipeline = flips.tta_pipeline  # the image and its flip
    model = build_model(demo_root, tmp_path).eval()
    tta = MODELS.build(dict(type='HistoTTAModel', module=model))
    data = tta_views(cfg, write_case(tmp_path))
    assert len(data['inputs']) == 2
    with torch.no_grad(), pytest.raises(ValueError, match='cam_runtime.py'):
        tta.test_step(data)


def test_other_segmentors_merge_as_mmseg(demo_root, tmp_path):
    """Stage two (DeepLab): HistoTTAModel is MMSeg's SegTTAModel, mean of the
    de-flipped softmaxes."""
    cfg = Config.fromfile(STAGE2_DEMO)
    assert cfg.tta_model.type == 'HistoTTAModel'
    cfg.model.decode_head.channels = 16
    cfg.model.auxiliary_head.channels = 8
    cfg.model.backbone.init_cfg = None
    cfg.model.pretrained = None
    model = MODELS.build(cfg.model).eval()
    tta = MODELS.build(dict(type='HistoTTAModel', module=model))
    assert not isinstance(tta.module, WSSSCAMSegmentor)
    data = tta_views(cfg, write_case(tmp_path))
    with torch.no_grad():
        out = tta.test_step(data)[0]
        x = model.data_preprocessor(
            dict(
                inputs=[data['inputs'][0][0]],
                data_samples=[data['data_samples'][0][0]]), False)['inputs']
        meta = [
            dict(
                img_shape=x.shape[-2:],
                ori_shape=(48, 40),
                pad_shape=x.shape[-2:],
                padding_size=[0, 0, 0, 0])
        ]
        logits = [
            model.inference(x, meta)[0],
            model.inference(x.flip(-1), meta)[0].flip(-1)
        ]
    want = sum(v.softmax(0) for v in logits).argmax(0)
    assert torch.equal(out.pred_sem_seg.data[0], want)


def test_segmentor_keeps_its_own_preprocessor():
    """``tools/test.py --tta`` builds the TTA model from a dict, with the
    config's top-level ``data_preprocessor`` (the stage-two configs inherit
    ImageNet statistics there from MMSeg's base); the segmentor keeps its
    histology statistics."""
    cfg = Config.fromfile(STAGE2_DEMO)
    assert cfg.data_preprocessor.mean != cfg.model.data_preprocessor.mean
    cfg.model.backbone.init_cfg = None
    cfg.model.pretrained = None
    histo_mean = list(cfg.model.data_preprocessor.mean)
    tta = MODELS.build(
        dict(
            cfg.tta_model,
            module=cfg.model,
            data_preprocessor=cfg.data_preprocessor))
    mean = tta.module.data_preprocessor.mean.flatten().tolist()
    assert mean == pytest.approx(histo_mean)
