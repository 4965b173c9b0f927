# The MLSM CAM baseline (PSCL off) on the demo data, same schedule.
_base_ = ['./pscl_swin-t_demo.py']
model = dict(pscl_loss=None)
