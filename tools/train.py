"""Train a segmentor: MMSeg's own ``tools/train.py`` with mmseg-pbip loaded.

Same arguments as MMSeg's: CONFIG [--work-dir DIR] [--resume] [--amp]
[--cfg-options K=V ...] [--launcher {none,pytorch,slurm,mpi}].
"""
from _mmseg_tool import run_mmseg_tool

if __name__ == '__main__':
    run_mmseg_tool('train.py')
