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
# PBIP stage one exactly as released: images decoded by OpenCV stay in BGR
# order and are normalised with the released statistics in that order,
# (x / 255 - mean) / std with mean (0.66791496, 0.47791372, 0.70623304) and
# std (0.1736589, 0.22564577, 0.19820057), here on the 0-255 scale.
pbip_data_preprocessor = dict(
    histo_data_preprocessor,
    mean=[0.66791496 * 255, 0.47791372 * 255, 0.70623304 * 255],
    std=[0.1736589 * 255, 0.22564577 * 255, 0.19820057 * 255],
    bgr_to_rgb=False)
