# Normalisation with histology statistics (released PBIP code): RGB in [0, 1],
# mean (0.668, 0.478, 0.706), std (0.174, 0.226, 0.198), scaled to [0, 255].
histo_data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[170.34, 121.89, 180.03],
    std=[44.37, 57.63, 50.49],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(224, 224))
