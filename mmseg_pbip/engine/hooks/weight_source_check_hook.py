"""Refuse to train from random weights unless the config says so."""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS


def find_pretrained_sources(cfg, path='model') -> list:
    """Where a model config names pretrained weights.

    Args:
        cfg (dict | list): (Part of) a model config.
        path (str): Dotted path of ``cfg``, for the result.

    Returns:
        list[str]: Dotted paths of ``pretrained=...``, ``init_cfg`` of type
        ``Pretrained`` and ``checkpoint``/``weights_path`` keys with a value.
    """
    found = []
    if isinstance(cfg, dict):
        if cfg.get('type') == 'Pretrained' and cfg.get('checkpoint'):
            found.append(path)
        for key in ('pretrained', 'checkpoint', 'weights_path'):
            if isinstance(cfg.get(key), str) and cfg.get(key):
                found.append(f'{path}.{key}')
        for key, value in cfg.items():
            found += find_pretrained_sources(value, f'{path}.{key}')
    elif isinstance(cfg, (list, tuple)):
        for i, value in enumerate(cfg):
            found += find_pretrained_sources(value, f'{path}[{i}]')
    return sorted(set(found))


@HOOKS.register_module()
class WeightSourceCheckHook(Hook):
    """Make training from random weights an explicit, loud choice.

    Before the run, the hook looks for a weight source: ``load_from``,
    ``resume``, or pretrained weights named anywhere in ``model`` (see
    :func:`find_pretrained_sources`). With none, the run stops with an error
    unless the config sets ``allow_random_init = True``, in which case a
    warning banner is logged.
    """
    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        cfg = runner.cfg
        if cfg.get('load_from') or cfg.get('resume'):
            return
        sources = find_pretrained_sources(cfg.get('model', {}))
        if sources:
            print_log(
                f'pretrained weights from: {", ".join(sources)}',
                logger='current')
            return
        if not cfg.get('allow_random_init', False):
            raise RuntimeError(
                'The model config names no pretrained weights (no '
                "init_cfg=dict(type='Pretrained', checkpoint=...), "
                'pretrained=..., load_from or resume). Point it at local '
                'weight files (see docs/reproduction.md, "Weights"), or set '
                'allow_random_init=True to train from random weights on '
                'purpose.')
        banner = '!' * 78
        print_log(
            f'\n{banner}\n!! RANDOM INITIALISATION: no pretrained weights are '
            'loaded (allow_random_init=True).\n!! Scores from this run say '
            'nothing about the published methods.\n'
            f'{banner}',
            logger='current',
            level=30)
