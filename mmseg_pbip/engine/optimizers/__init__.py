from .finite_grad_amp_optim_wrapper import FiniteGradAmpOptimWrapper
from .finite_grad_optim_wrapper import FiniteGradOptimWrapper
from .non_finite_grad_guard import NonFiniteGradGuard, NonFiniteGradientError

__all__ = [
    'FiniteGradAmpOptimWrapper', 'FiniteGradOptimWrapper',
    'NonFiniteGradGuard', 'NonFiniteGradientError'
]
