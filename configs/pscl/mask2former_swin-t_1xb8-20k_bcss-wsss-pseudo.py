# PSCL stage two on BCSS-WSSS: Mask2Former on the PSCL Swin-T, end to end on
# data/BCSS-WSSS/pseudo_labels/pscl_swin-t_bcss-wsss (written by
# tools/generate_pseudo_labels.py configs/pscl/pscl_swin-t_bcss-wsss.py CKPT).
_base_ = ['./mask2former_swin-t_pseudo-base.py']
