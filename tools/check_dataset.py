"""Check every file of a config's datasets before a long run.

    python tools/check_dataset.py CONFIG [--workers N] [--out report.json]
        [--strict] [--max-per-message N] [--cfg-options k=v ...]

Scans the train / val / test datasets of CONFIG in one pass (files decoded
in N processes, with a progress bar) and reports, per file: unreadable,
empty or truncated images, non-RGB images, sizes that differ from the rest
of the split, file names whose image-level label does not parse or has the
wrong length, masks with values outside the dataset's classes, masks of
another size, images without masks, duplicate names and duplicate pixels
(also across splits); then per split the patches per class and, for the
training split, the single-label patches the image bank can use.

Exit status: 0 when nothing would break training, 1 when an error was found
(with --strict, also for warnings), 2 for a bad command line or config.
"""
import argparse
import json
import os
import os.path as osp
import sys

from _tool_config import load_tool_config
from dataset_checks import check_config_datasets
from mmengine.config import DictAction

import mmseg_pbip  # noqa: F401
from mmseg_pbip.utils import atomic_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument(
        '--workers',
        type=int,
        default=min(8,
                    os.cpu_count() or 1),
        help='processes decoding files (default: cores, '
        'at most 8)')
    parser.add_argument('--out', help='also write the full report as JSON')
    parser.add_argument(
        '--strict', action='store_true', help='exit 1 on warnings too')
    parser.add_argument(
        '--max-per-message',
        type=int,
        default=20,
        help='files printed per kind of problem (0: all)')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    cfg = load_tool_config(args.config, args.cfg_options)
    report = check_config_datasets(
        cfg,
        workers=args.workers,
        progress=not args.no_progress,
        config_name=args.config)
    print(report.format_text(args.max_per_message))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with atomic_path(args.out) as tmp, open(tmp, 'w') as f:
            json.dump(report.to_dict(), f, indent=1)
    return report.exit_code(args.strict)


if __name__ == '__main__':
    sys.exit(main())
