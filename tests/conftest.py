"""Fixtures that write tiny datasets in the real on-disk formats (helpers in
utils.py)."""
import logging
import os.path as osp

import pytest
from utils import quadrant_mask, write_eval_split, write_rgb


@pytest.fixture(autouse=True, scope='session')
def mmseg_scope():
    """Build components in MMSeg's scope, as MMSeg's tools do."""
    from mmengine.registry import init_default_scope

    import mmseg_pbip  # noqa: F401
    init_default_scope('mmseg')


@pytest.fixture
def mmengine_log():
    """The messages MMEngine's current logger emits during the test.

    MMEngine's logger does not propagate and its stream handler keeps the
    ``sys.stdout`` of the moment it was made, so neither ``caplog`` nor
    ``capsys`` sees it once an earlier test has made it; a handler of our own
    on the current instance does.
    """
    from mmengine.logging import MMLogger

    class Collect(logging.Handler):

        def __init__(self):
            super().__init__(level=logging.DEBUG)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler = Collect()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


@pytest.fixture
def bcss_wsss_root(tmp_path):
    """BCSS-WSSS layout: labelled training names, val/test img + mask."""
    root = str(tmp_path / 'BCSS-WSSS')
    names = [
        'TCGA-A1-A0SK-DX1_xmin45749_ymin25055_MPP-0.2500+0[1101].png',
        'TCGA-A2-A0CM-DX1_xmin100_ymin200_MPP-0.2500+0[0100].png',
        'TCGA-AR-A1AQ-DX1_xmin7_ymin9_MPP-0.2500+1[0011].png',
    ]
    for i, name in enumerate(names):
        write_rgb(osp.join(root, 'training', name), seed=i)
    masks = [quadrant_mask((0, 1, 4, 4)), quadrant_mask((2, 2, 3, 0))]
    write_eval_split(root, 'val', masks)
    write_eval_split(root, 'test', masks[::-1])
    return root


@pytest.fixture
def luad_root(tmp_path):
    """LUAD-HistoSeg layout: ``...-[1 0 0 1].png`` training names."""
    root = str(tmp_path / 'LUAD-HistoSeg')
    names = ['1031280-2300-27920-[1 0 0 1].png', '22-1-2-[0 1 1 0].png']
    for i, name in enumerate(names):
        write_rgb(osp.join(root, 'training', name), seed=i)
    write_eval_split(root, 'val', [quadrant_mask((3, 3, 4, 0))])
    write_eval_split(root, 'test', [quadrant_mask((1, 2, 4, 4))])
    return root


@pytest.fixture
def masked_root(tmp_path):
    """BCSS / GCSS layout: every split as img + mask."""
    root = str(tmp_path / 'masked')
    write_eval_split(
        root, 'train',
        [quadrant_mask((0, 0, 1, 4)),
         quadrant_mask((3, 3, 3, 3))])
    write_eval_split(root, 'val', [quadrant_mask((2, 1, 4, 4))])
    write_eval_split(root, 'test', [quadrant_mask((0, 1, 2, 3))])
    return root


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    """A small demo set (64 px) written by the real generator."""
    from synthetic_he import write_demo_dataset
    root = str(tmp_path_factory.mktemp('demo') / 'demo')
    write_demo_dataset(root, num_train=32, num_val=6, num_test=4, size=64)
    return root
