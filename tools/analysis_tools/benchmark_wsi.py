"""Whole-slide inference speed and memory for a config and a slide.

    python tools/analysis_tools/benchmark_wsi.py CONFIG CHECKPOINT SLIDE
        [--mpp UM | --level L] [--slide-mpp UM] [--tile 224] [--overlap 32]
        [--out-downsample 4] [--batch-size 8] [--workers 2] [--device cuda]

Runs the whole of ``tools/infer_wsi.py`` on one slide into a temporary
folder (tissue detection, tiled inference, blending, exports) and prints the
tiles on tissue, the tiles per second of the tile loop and of the whole run,
and the peak resident memory of this process and of its data-loader workers.
"""
import argparse
import os.path as osp
import resource
import sys
import tempfile
import time

import torch

import mmseg_pbip  # noqa: F401
from mmseg_pbip.apis.wsi import infer_slide
from mmseg_pbip.apis.wsi.inference import load_segmentor
from mmseg_pbip.datasets import config_metainfo

# the tools' shared modules (_tool_config) are in tools/; appended, so that
# nothing there shadows an installed module
sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))
from _tool_config import load_tool_config, local_device  # noqa: E402


def peak_rss_mib(who) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.  # Linux: KiB


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('slide')
    parser.add_argument('--mpp', type=float)
    parser.add_argument('--slide-mpp', type=float)
    parser.add_argument('--level', type=int)
    parser.add_argument('--tile', type=int, default=224)
    parser.add_argument('--overlap', type=int, default=32)
    parser.add_argument('--out-downsample', type=int, default=4)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--device')
    args = parser.parse_args()
    cfg = load_tool_config(args.config)
    meta = config_metainfo(cfg)
    device = local_device(args.device)
    model = load_segmentor(cfg, args.checkpoint, device)
    mpp = args.mpp if args.mpp is not None else cfg.get('wsi_mpp')
    loop = {}

    def on_batch(done):
        loop.setdefault('first', time.time())
        loop['last'], loop['tiles'] = time.time(), done

    with tempfile.TemporaryDirectory() as out, torch.no_grad():
        start = time.time()
        stats = infer_slide(
            model,
            args.slide,
            out,
            list(meta['classes']),
            meta['palette'],
            int(meta['background_index']),
            mpp=mpp,
            slide_mpp=args.slide_mpp,
            level=args.level,
            tile=args.tile,
            overlap=args.overlap,
            out_down=args.out_downsample,
            batch_size=args.batch_size,
            num_workers=args.workers,
            progress=False,
            on_batch=on_batch)
        total = time.time() - start
    # the first batch includes the workers' start: rate of the others
    steady = (loop['tiles'] - args.batch_size) / max(
        loop['last'] - loop['first'], 1e-9) if loop.get('tiles', 0) > \
        args.batch_size else float('nan')
    print(f'slide {args.slide}: {stats["tissue_tiles"]} of {stats["tiles"]} '
          f'tiles on tissue, output {stats["out_size"][0]}x'
          f'{stats["out_size"][1]}; device {device}, batch '
          f'{args.batch_size}, {args.workers} workers, '
          f'{torch.get_num_threads()} torch threads')
    print(f'tiles/s: {steady:.2f} (tile loop after the first batch), '
          f'{stats["computed_tiles"] / total:.2f} (whole run, {total:.1f} s '
          'with tissue detection and exports)')
    print(f'peak RSS: {peak_rss_mib(resource.RUSAGE_SELF):.0f} MiB (main '
          f'process), {peak_rss_mib(resource.RUSAGE_CHILDREN):.0f} MiB '
          '(largest data-loader worker)')
    if torch.cuda.is_available() and device.startswith('cuda'):
        print(f'peak GPU memory: '
              f'{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB')
    sys.stdout.flush()


if __name__ == '__main__':
    main()
