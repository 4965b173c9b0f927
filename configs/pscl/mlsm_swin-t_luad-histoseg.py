# The plain MLSM CAM baseline (PSCL off) on LUAD-HistoSeg, same schedule.
_base_ = ['./pscl_swin-t_luad-histoseg.py']
model = dict(pscl_loss=None)
