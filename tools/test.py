"""Test a checkpoint: MMSeg's own ``tools/test.py`` with mmseg-pbip loaded.

Same arguments as MMSeg's: CONFIG CHECKPOINT [--work-dir DIR] [--out DIR]
[--show] [--show-dir DIR] [--wait-time S] [--cfg-options K=V ...]
[--launcher {none,pytorch,slurm,mpi}] [--tta].
"""
from _mmseg_tool import run_mmseg_tool

if __name__ == '__main__':
    run_mmseg_tool('test.py')
