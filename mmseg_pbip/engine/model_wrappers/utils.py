"""The model inside MMEngine's wrappers; the wrapper of CPU processes."""
import torch
import torch.nn as nn
from mmengine.model import BaseTTAModel, is_model_wrapper


def unwrap_model(model: nn.Module) -> nn.Module:
    """The segmentor inside DDP-style wrappers and test-time-augmentation
    models (``tools/test.py --tta``), as ``Runner.load_checkpoint`` sees it.

    Args:
        model (nn.Module): ``runner.model``.

    Returns:
        nn.Module: The innermost ``module``.
    """
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def cpu_ddp_options(launcher: str) -> dict:
    """The config options that wrap the model of a multi-process CPU run.

    The configs keep MMEngine's ``MMDistributedDataParallel``, to which the
    Runner passes ``device_ids=[LOCAL_RANK]``: right on GPUs, refused by
    torch for a model on the CPU. A run with a launcher on a machine without
    CUDA (gloo processes, as in the tests) gets :class:`DeviceAgnosticDDP`
    instead; the other keys of the config's ``model_wrapper_cfg`` stay.

    Args:
        launcher (str): The run's launcher ('none', 'pytorch', ...).

    Returns:
        dict: ``{'model_wrapper_cfg.type': 'DeviceAgnosticDDP'}`` for such a
        run, else ``{}`` (GPU and one-process runs keep the config's
        wrapper); for :meth:`Config.merge_from_dict` or ``--cfg-options``.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return {}
    return {'model_wrapper_cfg.type': 'DeviceAgnosticDDP'}
