# Stage two as in the paper: DeepLab-v2 (ResNet-101, ASPP = sum of four
# dilated 3x3 classifiers, rates 6/12/18/24) on the PBIP pseudo labels.
_base_ = ['./deeplabv3plus_r101-d8_1xb8-20k_bcss-wsss-pseudo-224x224.py']
model = dict(
    decode_head=dict(
        _delete_=True,
        type='DeepLabV2Head',
        in_channels=2048,
        in_index=3,
        dilations=(6, 12, 18, 24),
        num_classes=5,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)
