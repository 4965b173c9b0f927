# PSCL stage one on LUAD-HistoSeg: 5 epochs, batch 10.
_base_ = [
    '../_base_/models/pscl_swin-t.py', '../_base_/datasets/luad-histoseg.py',
    '../_base_/schedules/pscl_adamw_poly_5e.py'
]
