"""Stage-one pseudo labels through MMEngine's test loop, resumably."""
import copy
import glob
import os
import os.path as osp
import re
from typing import Optional, Sequence

from mmengine.config import Config
from mmengine.dist import barrier, broadcast_object_list, get_rank
from mmengine.runner import Runner
from mmseg.registry import DATASETS

from ..engine.hooks import SafeCheckpointLoadingHook
from ..engine.model_wrappers import cpu_ddp_options, unwrap_model
from ..models.segmentors import without_test_views
from ..utils import png_path_for, safe_load

#: What the model runs on when a config has no ``pseudo_label_pipeline``.
DEFAULT_PSEUDO_LABEL_PIPELINE = [
    dict(type='LoadHistoImageFromFile'),
    dict(type='PackHistoSegInputs')
]


def best_checkpoint(work_dir: str) -> str:
    """The best-validation checkpoint of a training run.

    Args:
        work_dir (str): The run's work folder.

    Returns:
        str: The newest ``best_*.pth`` there (MMEngine's ``save_best``).

    Raises:
        FileNotFoundError: naming the folder, when it holds none.
    """
    found = sorted(
        glob.glob(osp.join(work_dir, 'best_*.pth')), key=osp.getmtime)
    if not found:
        raise FileNotFoundError(
            f'{work_dir}: no best-validation checkpoint (best_*.pth); train '
            "with the checkpoint hook's save_best='mIoU' (the default of "
            'these configs), give --work-dir, or name a CHECKPOINT')
    return found[-1]


def check_checkpoint_keys(model, checkpoint: str) -> None:
    """Load ``checkpoint`` into ``model`` and raise unless every key matches.

    Args:
        model (nn.Module): The (unwrapped) model.
        checkpoint (str): The checkpoint (torch's safe loading).

    Raises:
        RuntimeError: naming the file, with the missing, unexpected or
            mis-shaped weights, on every rank.
    """
    loaded = safe_load(checkpoint, map_location='cpu')
    state = loaded.get('state_dict', loaded)
    state = {re.sub(r'^module\.', '', k): v for k, v in state.items()}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shapes: raised whatever `strict`
        raise RuntimeError(f'{checkpoint}: does not match the model of the '
                           f'config: {error}') from None
    if missing or unexpected:
        raise RuntimeError(
            f'{checkpoint}: does not match the model of the config: '
            f'{len(missing)} missing weights (e.g. {missing[:3]}), '
            f'{len(unexpected)} unexpected (e.g. {unexpected[:3]})')


def pseudo_label_runner_config(cfg: Config,
                               checkpoint: str,
                               out_dir: str,
                               indices: Sequence[int],
                               batch_size: int = 8,
                               overlay_dir: Optional[str] = None,
                               overlay_images: Sequence[str] = (),
                               tta: bool = False) -> Config:
    """The config of ``Runner.test()`` that writes pseudo labels.

    The test split becomes the config's training split (the images stage two
    trains on) through ``pseudo_label_pipeline``, restricted to ``indices``
    (the images without a PNG yet); the batches are dealt to the ranks whole
    (:class:`BatchRoundRobinSampler`); the evaluator is
    :class:`PseudoLabelWriter`; ``load_from`` is the checkpoint; a CAM
    model predicts from one plain view unless ``tta``
    (:func:`without_test_views`); processes without CUDA in a process group
    (``cfg.launcher``) wrap the model in :class:`DeviceAgnosticDDP`.

    Args:
        cfg (Config): The stage-one config (not modified).
        checkpoint (str): The stage-one checkpoint.
        out_dir (str): Folder of the PNGs.
        indices (list[int]): Positions in the training split to predict.
        batch_size (int): Images per forward pass. Defaults to 8.
        overlay_dir (str, optional): Folder of the overlays.
        overlay_images (Sequence[str]): Image file names to draw.
        tta (bool): Keep the model's test-time views. Defaults to False.

    Returns:
        Config: A copy of ``cfg`` ready for ``Runner.from_cfg``.
    """
    cfg = copy.deepcopy(cfg)
    if not tta:
        cfg.model = without_test_views(cfg.model)
    dataset = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset['pipeline'] = cfg.get('pseudo_label_pipeline') or \
        DEFAULT_PSEUDO_LABEL_PIPELINE
    dataset['indices'] = list(indices)
    loader = cfg.get('test_dataloader') or {}
    cfg.test_dataloader = dict(
        batch_size=batch_size,
        num_workers=loader.get('num_workers', 0),
        persistent_workers=False,
        sampler=dict(type='BatchRoundRobinSampler', batch_size=batch_size),
        dataset=dataset)
    cfg.test_evaluator = dict(
        type='PseudoLabelWriter',
        output_dir=out_dir,
        overlay_dir=overlay_dir,
        overlay_images=list(overlay_images))
    cfg.test_cfg = dict(type='TestLoop')
    cfg.load_from = checkpoint
    cfg.resume = False
    # DDP of CPU processes (gloo); GPU runs keep the config's wrapper
    cfg.merge_from_dict(cpu_ddp_options(cfg.get('launcher', 'none')))
    # progress: about twenty log lines (MMEngine's LoggerHook, with ETA)
    batches = -(-len(indices) // batch_size)
    logger = cfg.get('default_hooks', {}).get('logger')
    if logger is not None:
        logger['interval'] = max(
            1, min(logger.get('interval', 50), batches // 20))
    return cfg


def generate_pseudo_labels(cfg: Config,
                           checkpoint: str,
                           out_dir: str,
                           batch_size: int = 8,
                           overlay_dir: Optional[str] = None,
                           num_overlays: int = 0,
                           tta: bool = False) -> dict:
    """Predict a pseudo mask for every training image through ``Runner.test()``
    and write ``out_dir/<stem>.png``.

    Resumable: rank 0 removes the temporary files of an interrupted run and
    lists the images that have no PNG yet; only those are predicted (a PNG is
    renamed into place when complete, so an existing one is whole). The
    checkpoint must match the model exactly (strict loading, torch's safe
    loader). The model's own ``predict`` applies the configured CAM fusion,
    label masking and background rules, with its test-time views only when
    ``tta`` is True (the released PBIP code makes pseudo labels without
    them). In a process group (a launcher, ``cfg.launcher``) the batches are
    dealt whole to the ranks, so the PNGs are identical to a one-process run;
    every rank must call this function.

    Args:
        cfg (Config): The stage-one config; ``cfg.work_dir`` receives the
            run's log.
        checkpoint (str): The stage-one checkpoint.
        out_dir (str): Folder of the PNGs.
        batch_size (int): Images per forward pass. Defaults to 8.
        overlay_dir (str, optional): Where to save overlays.
        num_overlays (int): Overlays of the first N images predicted.
        tta (bool): Use the model's test-time views. Defaults to False.

    Returns:
        dict: ``total``, ``written`` (by all ranks) and ``skipped``.

    Raises:
        RuntimeError: naming the checkpoint, when its weights do not match
            the model; or, at the end, when some image has no pseudo label.
    """
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset_cfg['pipeline'] = []
    dataset = DATASETS.build(dataset_cfg)
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    todo = [None]
    if get_rank() == 0:
        os.makedirs(out_dir, exist_ok=True)
        for tmp in glob.glob(osp.join(out_dir, '.tmp-*')):
            os.remove(tmp)
        todo = [[
            i for i, path in enumerate(paths)
            if not osp.isfile(png_path_for(out_dir, path))
        ]]
    broadcast_object_list(todo)  # every rank runs the same list
    todo = todo[0]
    written = 0
    if todo:
        runner = Runner.from_cfg(
            pseudo_label_runner_config(
                cfg, checkpoint, out_dir, todo, batch_size, overlay_dir,
                [osp.basename(paths[i]) for i in todo[:num_overlays]], tta))
        model = unwrap_model(runner.model)
        # the Runner loads non-strictly; a wrong checkpoint must not give
        # labels from random layers. Every rank checks (MMEngine's strict
        # loading raises on rank 0 only, the others would write PNGs). The
        # Runner still loads `load_from` itself, after its before_run hooks,
        # so that the checkpoint's prototypes win over an image-bank file.
        check_checkpoint_keys(model, checkpoint)
        try:
            metrics = runner.test()
        except BaseException:
            # the Runner skips after_run when the loop raises: put MMEngine's
            # checkpoint loader back, since this runs inside the caller's
            # process
            for hook in runner.hooks:
                if isinstance(hook, SafeCheckpointLoadingHook):
                    hook.after_run(runner)
            raise
        written = metrics['pseudo_labels/written']
    barrier()
    missing = [p for p in paths if not osp.isfile(png_path_for(out_dir, p))]
    if missing:
        raise RuntimeError(f'{len(missing)} images have no pseudo label in '
                           f'{out_dir}, e.g. {missing[:3]}')
    return dict(
        total=len(paths), written=written, skipped=len(paths) - len(todo))
