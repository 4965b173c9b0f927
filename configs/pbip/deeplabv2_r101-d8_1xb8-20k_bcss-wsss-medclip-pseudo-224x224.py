# Stage two of the paper's Table 1 row for BCSS-WSSS: DeepLab-v2 R-101 (as
# deeplabv2_r101-d8_1xb8-20k_bcss-wsss-pseudo-224x224.py) on the pseudo labels
# of pbip_mit-b1_medclip_1xb10-8e_bcss-wsss-224x224.py, written by
#   python tools/generate_pseudo_labels.py \
#       configs/pbip/pbip_mit-b1_medclip_1xb10-8e_bcss-wsss-224x224.py
_base_ = ['./deeplabv2_r101-d8_1xb8-20k_bcss-wsss-pseudo-224x224.py']
pseudo_label_dir = (
    'pseudo_labels/pbip_mit-b1_medclip_1xb10-8e_bcss-wsss-224x224')
train_dataloader = dict(
    dataset=dict(data_prefix=dict(seg_map_path=pseudo_label_dir)))
