"""Stage-one checkpoint -> one pseudo-label PNG per training image.

    python tools/generate_pseudo_labels.py CONFIG [CHECKPOINT]
        [--work-dir DIR] [--out-dir DIR] [--batch-size 8]
        [--overlay-dir DIR --num-overlays 16] [--crf | --no-crf]
        [--cfg-options k=v ...]
    bash tools/dist_run.sh generate_pseudo_labels.py N CONFIG [CHECKPOINT]

CHECKPOINT defaults to the best-validation checkpoint of the training run,
``best_mIoU_*.pth`` in ``--work-dir`` (default
``work_dirs/<config name>``, where ``tools/train.py`` writes), as the
released PBIP code does. It runs MMEngine's test loop (``Runner.test()``) on
the config's training split through ``pseudo_label_pipeline``, with the
config's model (its CAM fusion, label masking and background rules;
test-time augmentation only when the config sets ``pseudo_label_tta=True``,
since the released code makes its pseudo labels without it) and the
``PseudoLabelWriter`` evaluator, which writes ``<stem>.png``: P mode, the
dataset palette, tissue classes 0-3 and background 4, exactly the format of
the dataset's masks. Progress is MMEngine's log (``Epoch(test) [i/N]`` with
ETA) in ``--work-dir``. Default ``--out-dir``:
``<data_root>/pseudo_labels/<config name>``, the folder the stage-two configs
read. Resumable: images already written are skipped, each PNG is written
under a temporary name and renamed, and a final check confirms that every
training image has its pseudo label. With ``--launcher`` (one GPU each, or
gloo on CPUs) whole batches are dealt to the processes; the PNGs are
identical to a one-process run.

``--crf`` refines the tissue labels with a dense CRF (optional extra
``pydensecrf2``) on the fused CAMs and the image: the config's
``pseudo_label_crf`` dict (kernel parameters, see
``mmseg_pbip.models.utils.DenseCRF``) or the defaults; a config that sets
``pseudo_label_crf`` uses it unless ``--no-crf``. The released configs set
none.
"""
import argparse
import os.path as osp
import time

from _allocator import keep_freed_memory
from _tool_config import (init_launcher, leave_process_group, load_tool_config,
                          tool_work_dir)
from mmengine.config import DictAction
from mmengine.dist import is_main_process

import mmseg_pbip  # noqa: F401
from mmseg_pbip.apis import best_checkpoint, generate_pseudo_labels


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='default: the best_*.pth of --work-dir (best validation)')
    parser.add_argument(
        '--work-dir', help='the training run (default: work_dirs/<config>)')
    parser.add_argument('--out-dir')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument(
        '--launcher',
        default='none',
        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--overlay-dir')
    parser.add_argument('--num-overlays', type=int, default=16)
    crf = parser.add_mutually_exclusive_group()
    crf.add_argument(
        '--crf',
        action='store_true',
        help="dense CRF refinement (the config's pseudo_label_crf, or the "
        'defaults)')
    crf.add_argument(
        '--no-crf',
        action='store_true',
        help="no CRF even if the config sets pseudo_label_crf")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def main():
    args = parse_args()
    keep_freed_memory()
    cfg = load_tool_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    init_launcher(args.launcher, cfg)
    work_dir = args.work_dir or tool_work_dir(cfg, args.config)
    # the test loop's log and config, beside the training run's own
    cfg.work_dir = osp.join(work_dir, 'pseudo_labels')
    out_dir = args.out_dir or osp.join(
        cfg.train_dataloader.dataset['data_root'], 'pseudo_labels',
        osp.splitext(osp.basename(args.config))[0])
    checkpoint = args.checkpoint or best_checkpoint(work_dir)
    crf = cfg.get('pseudo_label_crf')
    if args.crf or (crf is not None and not args.no_crf):
        cfg.model.crf = dict(crf or {})
    start = time.time()
    stats = generate_pseudo_labels(
        cfg,
        checkpoint,
        out_dir,
        args.batch_size,
        args.overlay_dir,
        args.num_overlays if args.overlay_dir else 0,
        tta=bool(cfg.get('pseudo_label_tta', False)))
    if is_main_process():
        seconds = time.time() - start
        per_image = seconds / max(stats['written'], 1)
        print(f'{checkpoint} -> {out_dir}: {stats["total"]} pseudo labels '
              f"({stats['written']} "
              f"written, {stats['skipped']} already there) in "
              f'{seconds:.1f} s ({per_image:.3f} s per written image; '
              f"CRF {'on' if cfg.model.get('crf') is not None else 'off'})")


if __name__ == '__main__':
    main()
    leave_process_group()
