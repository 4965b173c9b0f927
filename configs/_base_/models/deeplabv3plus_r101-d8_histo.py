# MMSeg's DeepLabV3+ (ResNet-101 V1c, output stride 8) for stage two:
# histology normalisation, 5 labels (4 tissue classes + background 4),
# ImageNet weights from a local file (MMSeg's resnet101_v1c.pth).
_base_ = [
    'mmseg::_base_/models/deeplabv3plus_r50-d8.py',
    './histo_data_preprocessor.py'
]
model = dict(
    data_preprocessor={{_base_.histo_data_preprocessor}},
    pretrained=None,
    backbone=dict(
        depth=101,
        init_cfg=dict(
            type='Pretrained', checkpoint='pretrained/resnet101_v1c.pth')),
    decode_head=dict(num_classes=5),
    auxiliary_head=dict(num_classes=5))
