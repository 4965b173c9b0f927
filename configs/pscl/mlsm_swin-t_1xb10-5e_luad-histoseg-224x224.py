# The plain MLSM CAM baseline (PSCL off) on LUAD-HistoSeg, same schedule.
_base_ = ['./pscl_swin-t_1xb10-5e_luad-histoseg-224x224.py']
model = dict(pscl_loss=None)
