"""FiniteGradOptimWrapper: a step with non-finite gradients never reaches
the weights or the optimiser state, and repeated ones stop the run."""
import argparse
import copy
import importlib.util
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.config import DictAction
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmseg.registry import OPTIM_WRAPPERS
from utils import REPO

import mmseg_pbip  # noqa: F401
from mmseg_pbip.engine import NonFiniteGradientError


class Net(nn.Module):

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc2(self.fc1(x).relu()).square().mean()


def adamw(model, **kwargs):
    return dict(
        optimizer=torch.optim.AdamW(
            model.parameters(), lr=0.1, weight_decay=0.01),
        **kwargs)


def guarded(model, **kwargs):
    wrapper = OPTIM_WRAPPERS.build(
        dict(type='FiniteGradOptimWrapper', **kwargs),
        default_args=adamw(model))
    wrapper.initialize_count_status(model, 0, 100)
    return wrapper


def batches(n):
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(5, 4, generator=gen) for _ in range(n)]


def same_optimiser_state(a, b):
    """Equal hyper-parameters, moments and step counts."""
    sa, sb = a['state'], b['state']
    return a['param_groups'] == b['param_groups'] and sa.keys() == sb.keys(
    ) and all(sa[i].keys() == sb[i].keys() and all(
        torch.equal(torch.as_tensor(sa[i][k]), torch.as_tensor(sb[i][k]))
        for k in sa[i]) for i in sa)


def poison(param, value):
    """The next backward pass writes ``value`` into ``param``'s gradient."""
    return param.register_hook(lambda g: torch.full_like(g, value))


def test_skipped_step_leaves_weights_and_state_unchanged(mmengine_log):
    """Step 2's fc2.weight gradient is inf: the weights and AdamW's state after
    it are those after step 1, and steps 1, 3, 4 give bit for bit the weights
    of a plain AdamW run that never saw batch 2."""
    MessageHub.get_instance('test_skip').update_info('iter', 1)
    model, twin = Net(), Net()
    wrapper = guarded(model)
    plain = OptimWrapper(**adamw(twin))
    data = batches(4)
    wrapper.update_params(model(data[0]))
    before = copy.deepcopy((model.state_dict(), wrapper.state_dict()))
    handle = poison(model.fc2.weight, float('inf'))
    wrapper.update_params(model(data[1]))  # finite loss, inf gradient
    handle.remove()
    assert all(
        torch.equal(v, before[0][k]) for k, v in model.state_dict().items())
    assert same_optimiser_state(wrapper.state_dict(), before[1])
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())
    assert wrapper.last_step_skipped and wrapper.skipped_steps == 1
    assert any(('non-finite gradients at iteration 2 in 1 parameter(s): '
                'fc2.weight; optimiser step skipped') in m
               for m in mmengine_log)
    for x in data[2:]:
        wrapper.update_params(model(x))
    assert not wrapper.last_step_skipped and wrapper.consecutive_skips == 0
    for x in (data[0], data[2], data[3]):
        plain.update_params(twin(x))
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize('value', [float('nan'), float('-inf')])
def test_consecutive_skips_stop_with_a_clear_error(value):
    """Two bad steps in a row are skipped; the third stops the run, with the
    parameter, the count and the limit in the message; a good step in between
    resets the count."""
    MessageHub.get_instance('test_stop').update_info('iter', 6)
    model = Net()
    wrapper = guarded(model, max_consecutive_skips=3)
    x = batches(1)[0]
    handle = poison(model.fc1.bias, value)
    wrapper.update_params(model(x))
    wrapper.update_params(model(x))
    handle.remove()
    wrapper.update_params(model(x))  # good: the count starts again
    assert (wrapper.skipped_steps, wrapper.consecutive_skips) == (2, 0)
    handle = poison(model.fc1.bias, value)
    wrapper.update_params(model(x))
    wrapper.update_params(model(x))
    with pytest.raises(NonFiniteGradientError) as err:
        wrapper.update_params(model(x))
    assert str(err.value).startswith(
        'non-finite gradients at iteration 7 in 1 parameter(s): fc1.bias; '
        '3 steps in a row skipped (max_consecutive_skips=3), training '
        'stopped. No checkpoint was saved yet.')
    handle.remove()


def test_finite_steps_are_mmengines():
    """With finite gradients the wrapper is MMEngine's OptimWrapper (with
    gradient accumulation over 2 and clipping): the same weights."""
    model, twin = Net(), Net()
    options = dict(accumulative_counts=2, clip_grad=dict(max_norm=0.5))
    wrapper = guarded(model, **options)
    plain = OptimWrapper(**adamw(twin, **options))
    plain.initialize_count_status(twin, 0, 100)
    for x in batches(6):
        wrapper.update_params(model(x))
        plain.update_params(twin(x))
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.equal(a, b)


def test_limit_must_be_positive():
    with pytest.raises(ValueError, match='max_consecutive_skips must be'):
        guarded(Net(), max_consecutive_skips=0)


# MMEngine builds torch.cuda.amp.GradScaler, deprecated and disabled here
@pytest.mark.filterwarnings('ignore:.*GradScaler')
def test_amp_twin_skips_too(monkeypatch):
    """FiniteGradAmpOptimWrapper unscales, checks and skips as the fp32 one
    does (MMEngine's AmpOptimWrapper asks for a GPU; here its scaler runs
    disabled, as torch makes it without CUDA)."""
    from mmengine.optim.optimizer import amp_optimizer_wrapper
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available',
                        lambda: True)
    MessageHub.get_instance('test_amp').update_info('iter', 0)
    model, twin = Net(), Net()
    wrapper = OPTIM_WRAPPERS.build(
        dict(type='FiniteGradAmpOptimWrapper', max_consecutive_skips=2),
        default_args=adamw(model))
    wrapper.initialize_count_status(model, 0, 100)
    plain = OptimWrapper(**adamw(twin))
    x, y = batches(2)
    handle = poison(model.fc2.bias, float('nan'))
    wrapper.update_params(model(x))
    handle.remove()
    assert wrapper.last_step_skipped
    wrapper.update_params(model(y))
    plain.update_params(twin(y))
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.equal(a, b)
    handle = poison(model.fc2.bias, float('nan'))
    wrapper.update_params(model(x))
    with pytest.raises(NonFiniteGradientError, match='fc2.bias; 2 steps'):
        wrapper.update_params(model(x))
    handle.remove()


def load_train_tool():
    spec = importlib.util.spec_from_file_location(
        'pbip_train_tool', osp.join(REPO, 'tools', 'train.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_train_tool_amp_selects_the_amp_twin(tmp_path):
    """``tools/train.py CONFIG --amp`` on a shipped config: MMSeg's tool gets
    no --amp (it accepts only OptimWrapper) but options that select the AMP
    twin, merged with the user's; a user config on MMEngine's OptimWrapper
    keeps MMSeg's own --amp."""
    tool = load_train_tool()
    shipped = osp.join(REPO, 'configs', 'pbip',
                       'pbip_mit-b1_1xb10-8e_bcss-wsss-224x224.py')
    argv = tool.amp_argv(
        [shipped, '--amp', '--cfg-options', 'train_cfg.max_epochs=1'])
    assert '--amp' not in argv
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    assert parser.parse_args(argv).cfg_options == {
        'train_cfg.max_epochs': 1,
        'optim_wrapper.type': 'FiniteGradAmpOptimWrapper',
        'optim_wrapper.loss_scale': 'dynamic'
    }
    user = tmp_path / 'user.py'
    user.write_text(f'_base_ = [{shipped!r}]\n'
                    "optim_wrapper = dict(type='OptimWrapper')\n")
    assert tool.amp_argv([str(user), '--amp']) == [str(user), '--amp']
    assert tool.amp_argv([shipped]) == [shipped]
