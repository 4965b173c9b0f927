"""Map whole slides with a trained model; outputs open in QuPath.

    python tools/infer_wsi.py CONFIG CHECKPOINT SLIDE [SLIDE ...]
        --out-dir DIR [--mpp UM_PER_PX | --level L] [--slide-mpp UM]
        [--no-upsample] [--tile 224] [--overlap 32] [--out-downsample 4]
        [--window gaussian|ramp|flat] [--batch-size 8] [--workers 2]
        [--min-area UM2] [--device cuda] [--overwrite] [--tta]
        [--cfg-options k=v ...]
    torchrun --nproc_per_node N tools/infer_wsi.py ... --launcher pytorch

Works with stage-one CAM models (PBIP, PSCL: no image-level label exists on
a slide, so every tissue class competes at every pixel; glass is left to the
tissue mask, and PSCL's background score applies) and with stage-two models
(DeepLab, Mask2Former: their own background class). Slides: anything
OpenSlide reads (openslide-bin wheel), else TIFF through tiffslide (strips
too, read chunk by chunk), else a plain PNG/JPEG decoded whole. The model
runs at ``--mpp`` (default: the config's ``wsi_mpp``, the resolution of its
training patches) on the slide level that needs no upsampling; a slide
coarser than that is mapped from its level 0 upsampled, with a warning
(``--no-upsample``: it fails instead); slides without resolution metadata
need ``--slide-mpp`` or ``--level``.

Per slide, in ``DIR/<slide name>/``: ``mask.tiff`` (tiled pyramidal TIFF of
class indices with a palette and the resolution), ``overview.png`` (colour
overlay and legend), ``annotations.geojson`` (one QuPath annotation per
class, level-0 pixel coordinates) and ``areas.csv`` (pixels, um^2 and
fraction of tissue per class). A killed run restarts where it stopped
(``DIR/<slide>/work``); finished slides (``done.json``) are skipped, and
outputs of other settings are refused unless ``--overwrite``. With
``--launcher`` the slides are dealt to the processes (one GPU each, or CPU
processes).

A slide that fails (unreadable, no resolution, refused, disk full) is
reported with its reason and the run goes on. ``DIR/summary.csv`` and
``DIR/summary.json`` list every slide as done, skipped (done before) or
failed. Exit code: 0 when no slide failed, 1 when any did, 2 when the run
could not start (arguments, config, checkpoint).
"""
import argparse
import os.path as osp
import sys

import torch
from _tool_config import (init_launcher, leave_process_group, load_tool_config,
                          local_device)
from mmengine.config import DictAction
from mmengine.dist import all_gather_object, barrier, get_dist_info

import mmseg_pbip  # noqa: F401
from mmseg_pbip.apis.wsi import SlideMapper, SlideSettings
from mmseg_pbip.apis.wsi.batch import (map_slide_safely, plan_slides,
                                       summary_text, write_summary)
from mmseg_pbip.apis.wsi.inference import load_segmentor
from mmseg_pbip.datasets import config_metainfo
from mmseg_pbip.utils import require_extra


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
        help='level-0 um/px of the slides whose metadata has none')
    parser.add_argument(
        '--level', type=int, help='run on this slide level as it is')
    parser.add_argument(
        '--no-upsample',
        action='store_true',
        help='refuse (fail) slides coarser than --mpp instead of mapping '
        'them upsampled from level 0')
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


def stop(message: str) -> None:
    """End a run that cannot start (exit code 2), naming the problem."""
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(2)


def slide_settings(args, cfg) -> SlideSettings:
    """The run's settings, from the command line and the config."""
    return SlideSettings(
        mpp=args.mpp if args.mpp is not None else cfg.get('wsi_mpp'),
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
        progress=not args.no_progress,
        upsample=not args.no_upsample,
        identity=dict(
            config=osp.abspath(args.config),
            checkpoint=osp.abspath(args.checkpoint),
            tta=args.tta))


def slide_mapper(args, cfg, meta) -> SlideMapper:
    """``infer(slide, folder)`` with the model and the run's settings."""
    try:
        settings = slide_settings(args, cfg)  # checked before the model
        model = load_segmentor(cfg, args.checkpoint, local_device(args.device),
                               args.tta)
    except (OSError, ValueError) as e:
        stop(str(e))
    return SlideMapper(model, list(meta['classes']), meta['palette'],
                       int(meta['background_index']), settings)


def report(row: dict, stats: dict) -> None:
    """One line per slide as it ends."""
    slide, folder = row['slide'], row['out_dir']
    if row['status'] == 'failed':
        print(f"{slide}: failed: {row['reason']}", flush=True)
    elif row['status'] == 'skipped':
        print(f'{slide}: done before, outputs in {folder}', flush=True)
    else:
        rate = stats['computed_tiles'] / max(stats['seconds'], 1e-9)
        print(
            f"{slide}: {stats['tissue_tiles']} of {stats['tiles']} tiles "
            f"on tissue, {stats['computed_tiles']} computed in "
            f"{stats['seconds']:.1f} s ({rate:.2f} tiles/s); mask "
            f"{stats['out_size'][0]}x{stats['out_size'][1]}, "
            f"{stats['features']} classes in the GeoJSON -> {folder}",
            flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        require_extra('wsi')
    except ImportError as e:
        stop(str(e))
    try:
        cfg = load_tool_config(args.config, args.cfg_options)
        init_launcher(args.launcher, cfg)
    except (Exception, SystemExit) as e:  # nothing to map without them
        stop(f'{args.config}: {e}')
    meta = config_metainfo(cfg)
    if meta is None:
        stop(f'{args.config}: its dataset names no classes')
    infer = slide_mapper(args, cfg, meta)
    plan = plan_slides(args.slides, args.out_dir)
    rank, world = get_dist_info()
    rows = []
    for i in range(rank, len(plan), world):
        row, stats = map_slide_safely(infer, *plan[i])
        report(row, stats)
        rows.append((i, row))
    # every process learns every slide's outcome (and so the exit code)
    rows = [row for _, row in sorted(sum(all_gather_object(rows), []))]
    failed = any(r['status'] == 'failed' for r in rows)
    if rank == 0:
        try:  # rank 0 must reach the barrier, whatever happens here
            paths = ' and '.join(write_summary(args.out_dir, rows))
        except OSError as e:
            paths, failed = f'not written ({e})', True
        print(summary_text(rows) + f'\nsummary: {paths}', flush=True)
    barrier()
    return 1 if failed else 0


if __name__ == '__main__':
    with torch.no_grad():
        code = main()
    leave_process_group()
    sys.exit(code)
