# The MLSM CAM baseline (PSCL off) on the demo data, same schedule.
_base_ = ['./pscl_swin-mini_1xb8-150iters_demo-224x224.py']
model = dict(pscl_loss=None)
