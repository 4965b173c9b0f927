from .batch_round_robin_sampler import BatchRoundRobinSampler

__all__ = ['BatchRoundRobinSampler']
