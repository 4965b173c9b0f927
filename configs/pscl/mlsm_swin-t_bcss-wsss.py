# The plain MLSM CAM baseline (PSCL off) on BCSS-WSSS, same schedule.
_base_ = ['./pscl_swin-t_bcss-wsss.py']
model = dict(pscl_loss=None)
