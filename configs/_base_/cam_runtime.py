# Runtime of the CAM models (PBIP, PSCL stage one): the shared runtime, with
# one view for `tools/test.py --tta`. A CAM model's test-time augmentation is
# its own (`tta_flips` x `tta_intensities`, the released flip x {0.9, 1.0,
# 1.1} on the normalised tensor), run by the plain test too; `--tta` adds no
# view, so it gives exactly the plain test's CAMs and masks.
_base_ = ['./default_runtime.py']
tta_pipeline = [
    dict(type='LoadHistoImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[[dict(type='LoadHistoAnnotations')],
                    [dict(type='PackHistoSegInputs')]])
]
