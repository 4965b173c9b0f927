"""Write the embedded synthetic demo dataset (BCSS-WSSS layout).

    python tools/generate_demo_data.py data/demo [--num-train 240] [--seed 0]

Writes ``training/*+0[1101].png``, ``{val,test}/{img,mask}/*.png`` and
``demo_meta.json``. A folder that already holds a demo set made with the same
parameters is left as it is; other content is refused unless ``--overwrite``.
"""
import argparse
import json
import os.path as osp
import shutil
import sys
import time

from synthetic_he import GENERATOR_VERSION, write_demo_dataset


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='dataset root to write')
    parser.add_argument('--num-train', type=int, default=240)
    parser.add_argument('--num-val', type=int, default=48)
    parser.add_argument('--num-test', type=int, default=48)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--overwrite', action='store_true', help='replace existing content')
    return parser.parse_args()


def main():
    args = parse_args()
    wanted = dict(
        counts=dict(
            training=args.num_train, val=args.num_val, test=args.num_test),
        size=args.size,
        seed=args.seed,
        generator_version=GENERATOR_VERSION)
    meta_path = osp.join(args.out_dir, 'demo_meta.json')
    if osp.exists(args.out_dir) and not args.overwrite:
        if osp.isfile(meta_path):
            with open(meta_path) as f:
                meta = json.load(f)
            if all(meta.get(k) == v for k, v in wanted.items()):
                print(f'{args.out_dir}: demo data already there ({meta_path})')
                return 0
            old = meta.get('generator_version', 1)
            if old != GENERATOR_VERSION:
                print(f'{args.out_dir}: demo set from generator version '
                      f'{old}, rewriting it')
                args.overwrite = True
        if not args.overwrite:
            sys.exit(f'{args.out_dir} exists and is not this demo set; pass '
                     '--overwrite to replace it')
    if args.overwrite and osp.isdir(args.out_dir):
        shutil.rmtree(args.out_dir)
    start = time.time()
    summary = write_demo_dataset(args.out_dir, args.num_train, args.num_val,
                                 args.num_test, args.size, args.seed)
    print(f'wrote {summary["counts"]} patches of {args.size}x{args.size} to '
          f'{args.out_dir} in {time.time() - start:.1f} s; training patches '
          f'per class: {summary["train_class_counts"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
