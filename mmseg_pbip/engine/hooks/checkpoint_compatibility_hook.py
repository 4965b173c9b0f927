"""Refuse a checkpoint made for other classes before it half-loads."""
import re
from typing import List, Optional

import torch
from mmengine.hooks import Hook
from mmengine.runner import find_latest_checkpoint
from mmseg.registry import HOOKS

from ...datasets import config_metainfo
from ..model_wrappers import unwrap_model


def checkpoint_mismatches(model,
                          checkpoint: dict,
                          classes: Optional[List[str]] = None) -> List[str]:
    """What makes a checkpoint unfit for a model and its dataset classes.

    Args:
        model (nn.Module): The (unwrapped) model.
        checkpoint (dict): The loaded checkpoint.
        classes (list[str], optional): The config's dataset classes.

    Returns:
        list[str]: One sentence per problem: other classes in
        ``meta.dataset_meta``, or a weight of another shape (buffers listed
        in a module's ``RESIZABLE_BUFFERS`` are exempt).
    """
    problems = []
    saved = ((checkpoint.get('meta') or {}).get('dataset_meta')
             or {}).get('classes')
    if saved is not None and classes is not None and \
            list(saved) != list(classes):
        problems.append(f'it was trained on the classes {list(saved)}, '
                        f'the config has {list(classes)}')
    state = checkpoint.get('state_dict', checkpoint)
    own = model.state_dict()
    resizable = {(f'{name}.' if name else '') + buf
                 for name, module in model.named_modules()
                 for buf in getattr(module, 'RESIZABLE_BUFFERS', ())}
    for key, value in state.items():
        key = re.sub(r'^module\.', '', key)
        if key in own and key not in resizable and isinstance(
                value, torch.Tensor) and value.shape != own[key].shape:
            problems.append(f'{key} has shape {tuple(value.shape)} in '
                            f'the checkpoint, {tuple(own[key].shape)} '
                            'in the model')
    return problems


@HOOKS.register_module()
class CheckpointCompatibilityHook(Hook):
    """Check a loaded or resumed checkpoint against the model and dataset.

    MMEngine loads checkpoints non-strictly: weights whose shape differs
    (another number of classes) are skipped with a warning, and a
    checkpoint of another dataset with the same number of classes loads
    silently. This hook runs on the checkpoint before it reaches the model
    and raises ``ValueError`` naming the file and the mismatch when

    - the checkpoint's ``meta.dataset_meta.classes`` differ from the
      config's dataset classes, or
    - a weight present in both has another shape (e.g. a decode head for
      5 classes loaded into one for 6).

    Buffers a module lists in ``RESIZABLE_BUFFERS`` (the prototypes, whose
    number follows the image bank) are exempt.

    Args:
        allow_mismatch (bool): Only warn (MMEngine's behaviour), e.g. to
            fine-tune from a checkpoint of another dataset on purpose.
            Defaults to False.
    """
    priority = 'VERY_HIGH'

    def __init__(self, allow_mismatch: bool = False) -> None:
        self.allow_mismatch = allow_mismatch

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = unwrap_model(runner.model)
        meta = config_metainfo(runner.cfg)
        problems = checkpoint_mismatches(
            model, checkpoint,
            list(meta['classes']) if meta else None)
        if not problems:
            return
        source = runner.cfg.get('load_from') or find_latest_checkpoint(
            runner.work_dir) or 'checkpoint'
        shown = problems[:6] + ([f'... {len(problems) - 6} more']
                                if len(problems) > 6 else [])
        msg = (f'{source} does not fit this config: ' + '; '.join(shown) +
               '. Check num_classes / the dataset type, or set '
               'default_hooks.checkpoint_check.allow_mismatch=True to load '
               'the matching weights only.')
        if self.allow_mismatch:
            runner.logger.warning(msg)
            return
        raise ValueError(msg)
