"""Run a config over several seeds, or collect finished runs, and report mean
+- std of mIoU, FwIoU, bIoU and Dice (a Table-1-style row) and of per-class
IoU.

    # train and test every seed (tools/train.py then tools/test.py)
    python tools/analysis_tools/multi_seed_report.py run CONFIG \
        --seeds 0 1 2 --work-dir work_dirs/seeds [--cfg-options k=v ...]
    # or collect test results of finished work dirs (seeds of one run)
    python tools/analysis_tools/multi_seed_report.py collect DIR [DIR ...]
    # or one row per work dir
    python tools/analysis_tools/multi_seed_report.py collect D1 D2 \
        --names "stage one" "stage two"

Each test writes ``<dir>/test/<timestamp>/<timestamp>.json``; the newest one
per work dir is read. Prints a Markdown table and writes ``--out`` (JSON
with per-seed values and the summary, plus a ``.md`` beside it).
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np

METRICS = ('mIoU', 'FwIoU', 'bIoU', 'Dice')
TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))


def latest_test_metrics(work_dir: str) -> dict:
    """Metrics of the newest test log of ``work_dir`` (or its ``test/``)."""
    candidates = []
    for root in (osp.join(work_dir, 'test'), work_dir):
        candidates += [
            p for p in glob.glob(osp.join(root, '*', '*.json'))
            if osp.basename(osp.dirname(p)) == osp.splitext(osp.basename(p))[0]
        ]
    for path in sorted(candidates, reverse=True):
        with open(path) as f:
            for line in reversed(f.read().splitlines()):
                record = json.loads(line)
                if all(k in record for k in METRICS):
                    return dict(record, source=path)
    raise FileNotFoundError(
        f'{work_dir}: no test result with {METRICS} (run tools/test.py '
        'CONFIG CKPT --work-dir WORK_DIR/test first)')


def class_keys(runs: list) -> list:
    """The per-class IoU keys (``IoU.<class>``) that every run has, in the
    first run's order."""
    return [
        k for k in runs[0]
        if k.startswith('IoU.') and all(k in r for r in runs)
    ]


def summarise(name: str, runs: list) -> dict:
    """Mean and sample std (n - 1) of every metric and per-class IoU over
    ``runs`` (std None for one run: it has no spread to estimate)."""
    summary = dict(name=name, n=len(runs))
    for key in (*METRICS, *class_keys(runs)):
        values = np.asarray([r[key] for r in runs], dtype=np.float64)
        summary[key] = dict(
            mean=float(values.mean()),
            std=float(values.std(ddof=1)) if len(values) > 1 else None)
    return summary


def markdown(summaries: list) -> str:
    """A Markdown table, one row per summary, and one of per-class IoU when the
    runs have it."""

    def cell(stat):
        if stat is None:
            return '-'
        spread = 'n/a' if stat['std'] is None else f"{stat['std']:.2f}"
        return f"{stat['mean']:.2f} ± {spread}"

    def table(keys, titles):
        lines = [
            '| run | seeds | ' + ' | '.join(titles) + ' |',
            '|---|---|' + '---|' * len(keys)
        ]
        for s in summaries:
            lines.append(f"| {s['name']} | {s['n']} | " +
                         ' | '.join(cell(s.get(k)) for k in keys) + ' |')
        return lines

    lines = table(METRICS, [f'{k} (%)' for k in METRICS])
    per_class = list(
        dict.fromkeys(k for s in summaries for k in s if k.startswith('IoU.')))
    if per_class:
        lines += ['', 'Per-class IoU (%):', '']
        lines += table(per_class, [k[4:] for k in per_class])
    return '\n'.join(lines)


def run_seeds(config, seeds, work_root, cfg_options):
    dirs = []
    for seed in seeds:
        work_dir = osp.join(work_root, f'seed{seed}')
        opts = ['--cfg-options', f'randomness.seed={seed}'] + cfg_options
        subprocess.run(
            [
                sys.executable,
                osp.join(TOOLS, 'train.py'), config, '--work-dir', work_dir
            ] + opts,
            check=True)
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            ckpt = f.read().strip()
        subprocess.run(
            [
                sys.executable,
                osp.join(TOOLS, 'test.py'), config, ckpt, '--work-dir',
                osp.join(work_dir, 'test')
            ] + opts,
            check=True)
        dirs.append(work_dir)
    return dirs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='mode', required=True)
    run = sub.add_parser('run')
    run.add_argument('config')
    run.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    run.add_argument('--work-dir', required=True)
    run.add_argument('--cfg-options', nargs='+', default=[])
    collect = sub.add_parser('collect')
    collect.add_argument('work_dirs', nargs='+')
    collect.add_argument(
        '--names', nargs='+', help='one row per work dir, with these names')
    for p in (run, collect):
        p.add_argument('--name', help='row name (default: config / dirs)')
        p.add_argument('--out', help='JSON report path (+ .md beside it)')
    args = parser.parse_args()
    if args.mode == 'run':
        dirs = run_seeds(args.config, args.seeds, args.work_dir,
                         args.cfg_options)
        groups = [(args.name
                   or osp.splitext(osp.basename(args.config))[0], dirs)]
    elif args.names:
        if len(args.names) != len(args.work_dirs):
            parser.error('--names needs one name per work dir')
        groups = [(n, [d]) for n, d in zip(args.names, args.work_dirs)]
    else:
        groups = [(args.name or osp.commonprefix(
            [osp.basename(osp.normpath(d)) for d in args.work_dirs])
                   or 'runs', args.work_dirs)]
    report = []
    for name, dirs in groups:
        runs = [dict(latest_test_metrics(d), work_dir=d) for d in dirs]
        report.append(
            dict(
                summary=summarise(name, runs),
                runs=[{
                    k: r[k]
                    for k in (*METRICS, *class_keys(runs), 'work_dir',
                              'source')
                } for r in runs]))
    table = markdown([r['summary'] for r in report])
    print(table)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=2)
        with open(osp.splitext(args.out)[0] + '.md', 'w') as f:
            f.write(table + '\n')
        print(f'written: {args.out}, {osp.splitext(args.out)[0]}.md')


if __name__ == '__main__':
    main()
