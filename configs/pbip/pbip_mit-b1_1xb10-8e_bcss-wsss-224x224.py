# PBIP stage one on BCSS-WSSS, released-code settings (8 epochs, batch 10).
# Validation/test report the quality of the CAM pseudo masks (HistoSegMetric,
# background counted as in the released evaluation); the best validation
# mIoU is kept (best_mIoU_epoch_*.pth) and makes the pseudo labels.
_base_ = [
    '../_base_/models/pbip_mit-b1.py', '../_base_/datasets/bcss-wsss.py',
    '../_base_/schedules/pbip_adamw_poly_8e.py'
]
