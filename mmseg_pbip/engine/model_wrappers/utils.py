"""The model inside MMEngine's wrappers."""
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
