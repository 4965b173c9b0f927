"""The MMEngine and MMSeg internals that the plugin replaces, restates or
calls, pinned to the versions they were checked against.

Each pin names a function the plugin depends on beyond its public contract,
its parameter names and the SHA-256 of its source (first 16 hex digits) in
mmengine 0.10.7 / mmseg 1.2.2, the pinned requirements, and what to re-check
when it changes. An upgrade that touches one fails here; review the plugin code
named in the message against the new source, then record the new values
(``inspect.signature`` and ``hashlib.sha256(inspect.getsource(fn))``).
"""
import hashlib
import inspect
from typing import Callable, NamedTuple, Tuple

import mmengine
import mmseg
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import CheckpointHook
from mmengine.model import BaseTTAModel, MMDistributedDataParallel
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.optim.scheduler.param_scheduler import PolyParamScheduler
from mmengine.runner import CheckpointLoader, Runner
from mmengine.runner.checkpoint import (_load_checkpoint_to_model,
                                        load_from_local)
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.models.backbones.mit import MixVisionTransformer
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from utils import PBIP_DEMO

from mmseg_pbip.engine.model_wrappers import cpu_ddp_options


class Pin(NamedTuple):
    """An internal the plugin depends on, as it was checked."""
    fn: Callable
    params: Tuple[str, ...]  # its parameter names
    sha256: str  # the first 16 hex digits of the SHA-256 of its source
    reason: str  # the plugin code that depends on it


PINS = [
    Pin(
        CheckpointHook._save_checkpoint_with_step,
        ('self', 'runner', 'step', 'meta'), 'cdbc1b54c7c88d95',
        'AtomicCheckpointHook._save_checkpoint_with_step replaces it: keep '
        'the same ids, message-hub entries, save_checkpoint arguments and '
        'last_checkpoint file, written atomically'),
    Pin(
        load_from_local, ('filename', 'map_location'), 'aa24a2a99a65f3f6',
        "SafeCheckpointLoadingHook swaps MMEngine's local scheme ('') for "
        'mmseg_pbip.utils.load_local_checkpoint: it must load what this '
        'loads (same arguments), with weights_only=True'),
    Pin(
        CheckpointLoader._get_checkpoint_loader, ('path', ),
        '54915b42c39d840f',
        "SafeCheckpointLoadingHook reads and restores CheckpointLoader."
        "_schemes[''], which this picks for local paths"),
    Pin(
        AmpOptimWrapper.step, ('self', 'kwargs'), '6d2ca436150c75e0',
        'FiniteGradAmpOptimWrapper.step restates it (unscale, check, clip, '
        'scaler step and update): restate the new version'),
    Pin(OptimWrapper._clip_grad, ('self', ), 'a3d132f6d5e8116f',
        'FiniteGradAmpOptimWrapper.step calls this private method'),
    Pin(PolyParamScheduler.__init__,
        ('self', 'optimizer', 'param_name', 'eta_min', 'power', 'begin', 'end',
         'last_step', 'by_epoch', 'verbose'), '160d642cf0f48144',
        'ExclusiveEndPolyLR sets total_iters after it'),
    Pin(PolyParamScheduler._get_value, ('self', ), 'd30875992a0fddc7',
        'ExclusiveEndPolyLR relies on it dividing by total_iters'),
    Pin(
        LoadAnnotations._load_seg_map, ('self', 'results'), '316c7f7399177b93',
        'LoadHistoAnnotations.transform calls this private method and reads '
        "results['gt_seg_map']"),
    Pin(BaseDecodeHead._transform_inputs, ('self', 'inputs'),
        'd478f98d9a6f3b78', 'DeepLabV2Head.forward calls this private method'),
    Pin(
        Runner.wrap_model, ('self', 'model_wrapper_cfg', 'model'),
        '1b219f958f8a829f',
        'DeviceAgnosticDDP drops the device_ids=[LOCAL_RANK] this passes to '
        'DDP subclasses, and cpu_ddp_options selects it by '
        'model_wrapper_cfg.type: check both are still needed and work'),
    Pin(MMDistributedDataParallel.__init__,
        ('self', 'module', 'detect_anomalous_params', 'kwargs'),
        'e29ffc4f8f4a885d', 'DeviceAgnosticDDP.__init__ calls it'),
    Pin(
        _load_checkpoint_to_model,
        ('model', 'checkpoint', 'strict', 'logger', 'revise_keys'),
        'e97ceb7819af8c87',
        'apis.wsi.inference.load_segmentor loads a checked state dict with '
        'this private function (strict, module. prefixes stripped)'),
    Pin(
        BaseTTAModel.__init__, ('self', 'module', 'data_preprocessor'),
        '0b37c8d2174c5038',
        "HistoTTAModel.__init__ drops the Runner's data_preprocessor when "
        "the module has its own, because this would replace the module's"),
    Pin(
        Runner.train, ('self', ), '98de231f177d0396',
        'ImageBankHook.before_run tells training from testing by '
        'runner._train_loop being a built loop, which this builds before '
        'before_run'),
    Pin(
        MixVisionTransformer.__init__,
        ('self', 'in_channels', 'embed_dims', 'num_stages', 'num_layers',
         'num_heads', 'patch_sizes', 'strides', 'sr_ratios', 'out_indices',
         'mlp_ratio', 'qkv_bias', 'drop_rate', 'attn_drop_rate',
         'drop_path_rate', 'act_cfg', 'norm_cfg', 'pretrained', 'init_cfg',
         'with_cp'), '1ed10e375a670ed8',
        'NVLabsMixVisionTransformer sets LayerNorm epsilons through the '
        'layers this builds (self.layers, block.attn.sr_ratio, attn.norm)'),
]


def versions() -> str:
    return f'mmengine {mmengine.__version__}, mmseg {mmseg.__version__}'


@pytest.mark.parametrize('pin', PINS, ids=[p.fn.__qualname__ for p in PINS])
def test_pinned_internal_unchanged(pin):
    """The signature and source of each internal the plugin depends on are
    those it was checked against."""
    fn = pin.fn
    where = f'{fn.__module__}.{fn.__qualname__}'
    params = tuple(inspect.signature(fn).parameters)
    assert params == pin.params, (
        f'{where} now takes {params} ({versions()}; pinned for mmengine '
        f'0.10.7, mmseg 1.2.2): {pin.reason}')
    digest = hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()
    assert digest[:16] == pin.sha256, (
        f'{where} changed ({versions()}, source sha256 {digest[:16]}; pinned '
        f'for mmengine 0.10.7, mmseg 1.2.2): {pin.reason}')


def callers(cls, name: str) -> set:
    """Methods of ``cls`` whose source calls ``name``."""
    return {
        attr
        for attr, fn in vars(cls).items()
        if inspect.isfunction(fn) and f'{name}(' in inspect.getsource(fn)
    }


def test_checkpoint_hook_saves_only_through_the_override():
    """Every periodic save of MMEngine's CheckpointHook goes through
    ``_save_checkpoint_with_step`` (the method AtomicCheckpointHook replaces);
    the best checkpoint is the one save MMEngine writes itself."""
    assert callers(CheckpointHook, 'self._save_checkpoint_with_step') == {
        '_save_checkpoint', '_save_best_checkpoint'
    }, f'{versions()}: AtomicCheckpointHook no longer sees every save'
    assert callers(CheckpointHook, 'runner.save_checkpoint') == {
        '_save_checkpoint_with_step', '_save_best_checkpoint'
    }, f'{versions()}: CheckpointHook saves somewhere AtomicCheckpointHook ' \
        'does not replace'


def test_local_scheme_is_what_the_safe_loader_replaces():
    """``CheckpointLoader._schemes`` is the table SafeCheckpointLoadingHook
    reads and restores, and local paths use its ``''`` entry."""
    assert isinstance(CheckpointLoader._schemes, dict), versions()
    assert CheckpointLoader._get_checkpoint_loader('/a/b.pth') is \
        CheckpointLoader._schemes[''], versions()


def test_wrapper_only_for_cpu_processes(monkeypatch):
    """The configs keep MMEngine's DDP; only a launcher without CUDA gets
    DeviceAgnosticDDP."""
    cfg = Config.fromfile(PBIP_DEMO)
    assert cfg.model_wrapper_cfg.type == 'MMDistributedDataParallel'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert cpu_ddp_options('none') == {}
    cfg.merge_from_dict(cpu_ddp_options('pytorch'))
    assert cfg.model_wrapper_cfg == dict(
        type='DeviceAgnosticDDP',
        broadcast_buffers=False,
        find_unused_parameters=False)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert cpu_ddp_options('pytorch') == {}
