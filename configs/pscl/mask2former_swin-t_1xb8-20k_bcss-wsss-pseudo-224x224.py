# PSCL stage two on BCSS-WSSS: Mask2Former on the PSCL Swin-T, end to end on
# data/BCSS-WSSS/pseudo_labels/pscl_swin-t_1xb10-5e_bcss-wsss-224x224 (written
# by
# tools/generate_pseudo_labels.py
# configs/pscl/pscl_swin-t_1xb10-5e_bcss-wsss-224x224.py CKPT).
_base_ = ['../_base_/mask2former_swin-t_pseudo.py']
