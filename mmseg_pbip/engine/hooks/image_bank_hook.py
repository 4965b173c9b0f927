"""Build or load the image bank and install its prototypes in the model."""
import json
import os.path as osp
from typing import Optional

import numpy as np
from mmengine.dist import barrier, broadcast_object_list, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import BaseLoop
from mmseg.registry import DATASETS, HOOKS
from PIL import Image

from ...datasets import cls_label_from_mask, config_metainfo
from ...image_bank import (BankImageReader, bank_pipeline, build_image_bank,
                           image_loader, load_image_bank, save_image_bank)
from ...image_bank.bank_reader import plain
from ...models.utils.switch_rules import (BANK_RULES, bank_switches,
                                          check_switches)
from ..model_wrappers import unwrap_model


def bank_reader_from_config(cfg,
                            input_space: str = 'rgb01',
                            augment: bool = False,
                            stretch: bool = False,
                            seed: int = 42) -> BankImageReader:
    """The reader of a config's bank patches: the training pipeline's image
    loader, the bank's flips / rotation (``augment``, ``seed``), the model's
    ``data_preprocessor`` (``input_space='inputs'``) and ``stretch``.

    Raises:
        ValueError: The training pipeline has no image loader (before any
            file is read).
    """
    load = image_loader(cfg.train_dataloader.dataset.get('pipeline'))
    model = cfg.get('model') or {}
    if 'module' in model:  # tools/test.py --tta: the tta_model wraps it
        model = model['module']
    return BankImageReader(
        input_space,
        bank_pipeline(load, augment, seed),
        model.get('data_preprocessor'),
        stretch=stretch)


def stale_bank_settings(bank: dict, settings: dict, reader: dict) -> list:
    """The build settings in which a loaded bank differs from a config's.

    Args:
        bank (dict): A loaded bank (its ``settings``).
        settings (dict): The hook's :func:`build_image_bank` settings.
        reader (dict): The config's :attr:`BankImageReader.settings`.

    Returns:
        list[str]: ``'key: bank value != config value'`` for each
        difference; empty when they agree. A bank of an earlier version
        (reader settings without ``pipeline``) is compared on the K-means
        settings only.
    """
    built = bank.get('settings') or {}
    mine = {k: settings[k] for k in built if k in settings}
    if 'pipeline' in (built.get('reader') or {}):
        mine['reader'] = reader
    return [
        f'{k}: {built[k]!r} != {v!r}' for k, v in mine.items()
        if json.dumps(plain(built[k]), sort_keys=True) != json.dumps(
            plain(v), sort_keys=True)
    ]


def bank_from_config(cfg,
                     encoder,
                     input_space='rgb01',
                     augment=False,
                     stretch=False,
                     **settings) -> dict:
    """Build a bank from ``cfg.train_dataloader.dataset``'s training split.

    Args:
        cfg (Config): Full config; its training dataset must read labels
            from file names (``cls_label_from='filename'``) or masks, and
            its pipeline's image loader reads the patches; its
            ``model.data_preprocessor`` gives the network's input space.
        encoder (nn.Module): The frozen image encoder.
        input_space, stretch: :class:`BankImageReader` settings
            (``input_space='inputs'``: the patches as the network sees them).
        augment (bool): ``SeededFlipRotate90`` (seeded by ``seed``) in the
            bank's pipeline, see :func:`bank_pipeline`.
        **settings: :func:`build_image_bank` keyword arguments.
    """
    reader = bank_reader_from_config(cfg, input_space, augment, stretch,
                                     settings.get('seed', 42))
    ds_cfg = cfg.train_dataloader.dataset.copy()
    ds_cfg['pipeline'] = []
    dataset = DATASETS.build(ds_cfg)
    if dataset.cls_label_from == 'filename':
        labels = dataset.get_cls_labels()
    else:  # labels derived from masks: read each mask once
        labels = np.stack([
            cls_label_from_mask(
                np.asarray(
                    Image.open(dataset.get_data_info(i)['seg_map_path'])),
                dataset.background_index) for i in range(len(dataset))
        ])
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    return build_image_bank(
        paths,
        labels,
        dataset.tissue_classes,
        encoder,
        reader=reader,
        **settings)


def tissue_classes(cfg):
    """Tissue class names of the config's dataset (classes before the
    background entry), see :func:`config_metainfo`."""
    meta = config_metainfo(cfg)
    return tuple(meta['classes'][:meta['background_index']])


# the hook settings that only make the reader (the seed also seeds K-means)
READER = ('input_space', 'augment', 'stretch')


@HOOKS.register_module()
class ImageBankHook(Hook):
    """Give the model its prototypes before the run.

    ``bank_file`` is loaded when it exists (checked against the dataset's
    classes, the encoder's feature size and the encoder itself); otherwise,
    in training, it is built from the training split with the model's own
    frozen encoder and saved atomically. In multi-process runs every rank
    reads and encodes its share of the patches, rank 0 runs K-means and
    writes the file, and all ranks load it: the bank is identical to a
    single-process build. At test time a missing file is fine when the
    checkpoint holds the prototypes.

    The defaults are the released code's settings. Settings that do not go
    with the model (e.g. ``input_space`` other than the match loss's
    ``image_space``) are refused in :meth:`before_run`, before anything is
    read or built.

    Args:
        bank_file (str, optional): Path of the bank file. Defaults to
            ``<work_dir>/image_bank.pth``.
        k_per_class (int): Clusters per class. Defaults to 3.
        n_per_cluster (int): Images averaged per prototype with
            ``prototype_rule='nearest_mean'``. Defaults to 100.
        max_white_fraction (float): Patches whiter than this are left out.
        grey_threshold (float): Grey level (0-255) counted as white.
        batch_size (int): Encoding batch size.
        kmeans (str): 'spherical' (released cosine K-means) or 'sklearn'.
        prototype_rule (str): 'centroid' (released) or 'nearest_mean'
            (paper). See :func:`build_image_bank`.
        seed (int): Seed of K-means and of the bank augmentation.
            Defaults to 42 (released).
        input_space (str): 'inputs' (released: the patches in the network's
            input space, through the training pipeline's image loader and
            the model's ``data_preprocessor``, see :class:`BankImageReader`)
            or 'rgb01'.
        augment (bool): Random flips / rotation of the bank patches
            (released), fixed per file (``SeededFlipRotate90`` in the
            bank's pipeline). Defaults to True.
        stretch (bool): Whole-tensor min-max of each bank patch (released).
            Defaults to True.
        rebuild (bool): Rebuild even when the file exists.
        check_encoder (bool): Refuse a bank built with another encoder
            (type or weights' fingerprint) than the model's. Defaults to
            True.
    """
    priority = 'VERY_HIGH'

    def __init__(self,
                 bank_file: Optional[str] = None,
                 k_per_class: int = 3,
                 n_per_cluster: int = 100,
                 max_white_fraction: float = 0.5,
                 grey_threshold: float = 200.,
                 batch_size: int = 32,
                 kmeans: str = 'spherical',
                 prototype_rule: str = 'centroid',
                 seed: int = 42,
                 input_space: str = 'inputs',
                 augment: bool = True,
                 stretch: bool = True,
                 rebuild: bool = False,
                 check_encoder: bool = True) -> None:
        self.bank_file = bank_file
        self.settings = dict(
            k_per_class=k_per_class,
            n_per_cluster=n_per_cluster,
            max_white_fraction=max_white_fraction,
            grey_threshold=grey_threshold,
            batch_size=batch_size,
            kmeans=kmeans,
            prototype_rule=prototype_rule,
            seed=seed,
            input_space=input_space,
            augment=augment,
            stretch=stretch)
        self.rebuild = rebuild
        self.check_encoder = check_encoder

    def check_model(self, encoder, match_loss=None) -> None:
        """Refuse bank settings that do not go with the model's encoder and
        match loss (:data:`BANK_RULES`), before anything is encoded."""
        check_switches(
            bank_switches(self.settings, encoder, match_loss), BANK_RULES,
            'ImageBankHook')

    def check_settings(self, bank: dict, cfg) -> None:
        """Refuse a bank file built with other settings than the config's
        (input statistics, channel order, augmentation, K-means), so that a
        change of the input reaches the bank with everything else."""
        build = {k: v for k, v in self.settings.items() if k not in READER}
        reader = bank_reader_from_config(
            cfg,
            seed=self.settings['seed'],
            **{
                k: self.settings[k]
                for k in READER
            }).settings
        stale = stale_bank_settings(bank, build, reader)
        if stale:
            raise ValueError(
                f'image bank {self.bank_file} was built with other settings '
                f"than this config's: {'; '.join(stale)}. Rebuild it "
                '(tools/build_image_bank.py CONFIG, or ImageBankHook '
                'rebuild=True)')

    def before_run(self, runner) -> None:
        model = unwrap_model(runner.model)
        match_loss = getattr(model, 'match_loss', None)
        self.check_model(model.image_encoder, match_loss)
        if self.bank_file is None:
            self.bank_file = osp.join(runner.work_dir, 'image_bank.pth')
        # rank 0 decides: the others must not see a file it is writing
        exists = [osp.isfile(self.bank_file) and not self.rebuild]
        broadcast_object_list(exists)
        # Runner.train() builds the train loop before `before_run`.
        training = isinstance(getattr(runner, '_train_loop', None), BaseLoop)
        if not exists[0]:
            if not training:
                # test / val: the checkpoint holds the prototypes
                if model.head.has_prototypes or runner.cfg.get('load_from'):
                    return
                raise FileNotFoundError(
                    f'image bank {self.bank_file} not found and no '
                    'checkpoint to take prototypes from; build it with '
                    'tools/build_image_bank.py CONFIG')
            print_log(
                f'building the image bank {self.bank_file}', logger='current')
            bank = bank_from_config(runner.cfg, model.image_encoder,
                                    **self.settings)
            if is_main_process():
                save_image_bank(self.bank_file, bank)
            barrier()
        encoder = model.image_encoder
        bank = load_image_bank(
            self.bank_file,
            tissue_classes(runner.cfg),
            feature_dim=encoder.out_channels,
            encoder=encoder if self.check_encoder else None)
        if exists[0]:  # a bank built just now has this config's settings
            self.check_settings(bank, runner.cfg)
        model.head.set_prototypes(bank['prototypes'], bank['k_per_class'])
        print_log(
            f'image bank {self.bank_file}: {bank["k_per_class"]} prototypes '
            f'per class, encoder {bank["encoder"]}',
            logger='current')
