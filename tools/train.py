"""Train a segmentor: MMSeg's own ``tools/train.py`` with mmseg-pbip loaded.

Same arguments as MMSeg's: CONFIG [--work-dir DIR] [--resume] [--amp]
[--cfg-options K=V ...] [--launcher {none,pytorch,slurm,mpi}].

``--amp`` on a config whose optimiser wrapper is the project's
``FiniteGradOptimWrapper`` (every shipped schedule) trains with its mixed-
precision twin ``FiniteGradAmpOptimWrapper``, as MMSeg's ``--amp`` turns
``OptimWrapper`` into ``AmpOptimWrapper`` (which MMSeg's tool does only for
that type).
"""
import sys

from _mmseg_tool import run_mmseg_tool


def amp_argv(argv):
    """``argv`` with ``--amp`` turned into the options that select
    ``FiniteGradAmpOptimWrapper`` when the config uses
    ``FiniteGradOptimWrapper``; otherwise ``argv`` as it is."""
    if '--amp' not in argv:
        return argv
    import argparse

    from mmengine.config import Config, DictAction
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('config')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    known, _ = parser.parse_known_args(argv)
    cfg = Config.fromfile(known.config)
    cfg.merge_from_dict(known.cfg_options or {})
    if cfg.optim_wrapper.get('type') != 'FiniteGradOptimWrapper':
        return argv
    return [a for a in argv if a != '--amp'] + [
        '--cfg-options', 'optim_wrapper.type=FiniteGradAmpOptimWrapper',
        'optim_wrapper.loss_scale=dynamic'
    ]


if __name__ == '__main__':
    sys.argv[1:] = amp_argv(sys.argv[1:])
    run_mmseg_tool('train.py')
