"""Map whole slides with a trained model; outputs open in QuPath.

    python tools/infer_wsi.py CONFIG CHECKPOINT SLIDE [SLIDE ...]
        --out-dir DIR [--mpp UM_PER_PX | --level L] [--slide-mpp UM]
        [--tile 224] [--overlap 32] [--out-downsample 4]
        [--window gaussian|ramp|flat] [--batch-size 8] [--workers 2]
        [--min-area UM2] [--device cuda] [--overwrite] [--tta]
        [--cfg-options k=v ...]
    torchrun --nproc_per_node N tools/infer_wsi.py ... --launcher pytorch

Works with stage-one CAM models (PBIP, PSCL: no image-level label exists on
a slide, so every tissue class competes at every pixel; glass is left to the
tissue mask, and PSCL's background score applies) and with stage-two models
(DeepLab, Mask2Former: their own background class). Slides: anything
OpenSlide reads (openslide-bin wheel), else TIFF through tiffslide, else a
plain PNG/JPEG/TIFF. The model runs at ``--mpp`` (default: the config's
``wsi_mpp``, the resolution of its training patches) on the slide level that
needs no upsampling; slides without resolution metadata need ``--slide-mpp``
or ``--level``.

Per slide, in ``DIR/<slide name>/``: ``mask.tiff`` (tiled pyramidal TIFF of
class indices with a palette and the resolution), ``overview.png`` (colour
overlay and legend), ``annotations.geojson`` (one QuPath annotation per
class, level-0 pixel coordinates) and ``areas.csv`` (pixels, um^2 and
fraction of tissue per class). A killed run restarts where it stopped
(``DIR/<slide>/work``); finished slides (``done.json``) are skipped, and
outputs of other settings are refused unless ``--overwrite``. With
``--launcher`` the slides are dealt to the processes (one GPU each, or CPU
processes).
"""
import argparse
import os.path as osp

import torch
from mmengine.config import DictAction
from mmengine.dist import get_dist_info

import mmseg_pbip  # noqa: F401
from mmseg_pbip.apis.wsi import SlideError, infer_slide
from mmseg_pbip.apis.wsi.inference import load_segmentor
from mmseg_pbip.datasets import config_metainfo
from mmseg_pbip.utils import init_launcher, load_tool_config, local_device


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('slides', nargs='+', metavar='SLIDE')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument(
        '--mpp',
        type=float,
        help="um/px the model runs at (default: the "
        "config's wsi_mpp)")
    parser.add_argument(
        '--slide-mpp',
        type=float,
        help='level-0 um/px of slides without metadata')
    parser.add_argument(
        '--level', type=int, help='run on this slide level as it is')
    parser.add_argument(
        '--tile', type=int, help="tile side (default: the config's crop size)")
    parser.add_argument('--overlap', type=int, default=32)
    parser.add_argument(
        '--out-downsample',
        type=int,
        default=4,
        help='model pixels per output pixel')
    parser.add_argument(
        '--window', default='gaussian', choices=['gaussian', 'ramp', 'flat'])
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument(
        '--workers',
        type=int,
        default=2,
        help='data-loader processes reading tiles')
    parser.add_argument(
        '--min-area',
        type=float,
        default=0.,
        help='smallest polygon part in the GeoJSON, um^2')
    parser.add_argument(
        '--device', help="default: this process's GPU, else the CPU")
    parser.add_argument(
        '--launcher',
        default='none',
        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--overwrite', action='store_true')
    parser.add_argument(
        '--tta',
        action='store_true',
        help="a CAM model's test-time views (slower)")
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def default_tile(cfg) -> int:
    size = (cfg.model.get('data_preprocessor') or {}).get('size') or (224, )
    return int(size[0])


def main(argv=None):
    args = parse_args(argv)
    cfg = load_tool_config(args.config, args.cfg_options)
    init_launcher(args.launcher, cfg)
    meta = config_metainfo(cfg)
    if meta is None:
        raise SystemExit(f'{args.config}: its dataset names no classes')
    names = [osp.splitext(osp.basename(p))[0] for p in args.slides]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SystemExit(
            f'slides with the same name would share an output folder in '
            f'{args.out_dir}: {twice}; map them in separate runs')
    mpp = args.mpp if args.mpp is not None else cfg.get('wsi_mpp')
    model = load_segmentor(cfg, args.checkpoint, local_device(args.device))
    rank, world = get_dist_info()
    for slide in args.slides[rank::world]:
        name = osp.splitext(osp.basename(slide))[0]
        try:
            stats = infer_slide(
                model,
                slide,
                osp.join(args.out_dir, name),
                classes=list(meta['classes']),
                palette=meta['palette'],
                background_index=int(meta['background_index']),
                mpp=mpp,
                slide_mpp=args.slide_mpp,
                level=args.level,
                tile=args.tile or default_tile(cfg),
                overlap=args.overlap,
                out_down=args.out_downsample,
                window=args.window,
                batch_size=args.batch_size,
                num_workers=args.workers,
                min_area=args.min_area,
                overwrite=args.overwrite,
                tta=args.tta,
                progress=not args.no_progress,
                settings=dict(
                    config=osp.abspath(args.config),
                    checkpoint=osp.abspath(args.checkpoint)))
        except SlideError as e:
            raise SystemExit(str(e)) from None
        if stats['skipped']:
            print(f'{slide}: done before, outputs in '
                  f"{osp.join(args.out_dir, name)}")
            continue
        rate = stats['computed_tiles'] / max(stats['seconds'], 1e-9)
        print(f"{slide}: {stats['tissue_tiles']} of {stats['tiles']} tiles "
              f"on tissue, {stats['computed_tiles']} computed in "
              f"{stats['seconds']:.1f} s ({rate:.2f} tiles/s); mask "
              f"{stats['out_size'][0]}x{stats['out_size'][1]}, "
              f"{stats['features']} classes in the GeoJSON -> "
              f"{osp.join(args.out_dir, name)}")


if __name__ == '__main__':
    with torch.no_grad():
        main()
