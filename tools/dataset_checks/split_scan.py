"""List a config's splits, check every file in one parallel pass, summarise.

Unlike building the dataset (which stops at the first bad file), the scan
visits every file of every split and records each problem.
"""
import os.path as osp
import sys
from collections import Counter, defaultdict
from multiprocessing import Pool
from typing import Dict, List, Optional

import numpy as np
from mmengine.fileio import list_dir_or_file
from mmengine.utils import track_parallel_progress, track_progress
from mmseg.registry import DATASETS

from mmseg_pbip.datasets import (LABEL_FORMATS, HistoWSSSDataset,
                                 parse_cls_label)
from .dataset_report import DatasetReport
from .file_inspection import inspect_image, inspect_mask

SPLIT_KEYS = (('train', 'train_dataloader'), ('val', 'val_dataloader'),
              ('test', 'test_dataloader'))


def _split_specs(cfg, report: DatasetReport) -> List[dict]:
    """One spec per distinct dataset of the config's dataloaders."""
    specs: Dict[tuple, dict] = {}
    for name, key in SPLIT_KEYS:
        loader = cfg.get(key)
        if not loader or not loader.get('dataset'):
            continue
        ds = loader['dataset']
        ds_type = DATASETS.get(ds.get('type', ''))
        if ds_type is None or not issubclass(ds_type, HistoWSSSDataset):
            report.add('warning', name, str(ds.get('type')),
                       'not a histopathology patch dataset; not checked')
            continue
        root = ds.get('data_root') or ''
        prefix = ds.get('data_prefix') or {}
        img_dir = osp.join(root, prefix.get('img_path', ''))
        ann_dir = prefix.get('seg_map_path') or None
        ann_dir = osp.join(root, ann_dir) if ann_dir else None
        meta = ds_type.METAINFO
        cls_from = ds.get('cls_label_from', 'filename')
        spec_key = (osp.abspath(img_dir), ann_dir
                    and osp.abspath(ann_dir), cls_from)
        if spec_key in specs:
            specs[spec_key]['split'] += f', {name}'
            specs[spec_key]['training'] |= name == 'train'
            continue
        specs[spec_key] = dict(
            split=name,
            training=name == 'train',
            img_dir=img_dir,
            ann_dir=ann_dir,
            cls_label_from=cls_from,
            label_format=ds.get('label_format') or ds_type.LABEL_FORMAT,
            img_suffix=ds.get('img_suffix', '.png'),
            seg_map_suffix=ds.get('seg_map_suffix', '.png'),
            num_classes=meta['background_index'],
            classes=list(meta['classes'][:meta['background_index']]),
            ignore_index=ds.get('ignore_index', 255))
    return list(specs.values())


def _list_files(folder: str) -> List[str]:
    """Relative paths of the files under ``folder`` outside hidden files and
    folders, sorted."""
    return sorted(
        rel
        for rel in list_dir_or_file(folder, list_dir=False, recursive=True)
        if not any(part.startswith('.') for part in rel.split('/')))


def _patch_identity(rel: str, label_format: str) -> str:
    """The patch's name without its image-level label (and ``+0`` tag)."""
    stem = osp.splitext(osp.basename(rel))[0]
    pattern = LABEL_FORMATS[label_format][0]
    stem = pattern.sub('', stem)
    return stem.rsplit('+', 1)[0] if label_format == 'bcss-wsss' else stem


def _list_split(spec: dict, report: DatasetReport) -> bool:
    """Fill ``spec['items']`` (image, mask, label); False if unusable."""
    split, img_dir, ann_dir = spec['split'], spec['img_dir'], spec['ann_dir']
    for what, folder in (('image', img_dir), ('mask', ann_dir)):
        if folder is not None and not osp.isdir(folder):
            report.add(
                'error', split, folder,
                f'{what} folder does not exist (check data_root and '
                'data_prefix)')
            return False
    isuf, msuf = spec['img_suffix'], spec['seg_map_suffix']
    images = []
    for rel in _list_files(img_dir):
        if rel.endswith(isuf):
            images.append(rel)
        else:
            report.add('warning', split, osp.join(img_dir, rel),
                       f'not a {isuf!r} file; the dataset ignores it')
    if not images:
        report.add('error', split, img_dir, f'no {isuf!r} image')
        return False
    masks = set()
    if ann_dir is not None:
        masks = {m for m in _list_files(ann_dir) if m.endswith(msuf)}
    items, stems = [], set()
    for rel in images:
        stem = rel[:-len(isuf)]
        path = osp.join(img_dir, rel)
        item = dict(
            img=path,
            mask=None,
            label=None,
            identity=_patch_identity(rel, spec['label_format']))
        if ann_dir is not None:
            if stem + msuf in masks:
                item['mask'] = osp.join(ann_dir, stem + msuf)
                stems.add(stem + msuf)
            else:
                report.add('error', split, path,
                           f'no mask {osp.join(ann_dir, stem + msuf)}')
        if spec['cls_label_from'] == 'filename':
            try:
                item['label'] = parse_cls_label(rel, spec['label_format'],
                                                spec['num_classes'])
            except ValueError as e:
                report.add('error', split, path, str(e).split(': ', 1)[-1])
        items.append(item)
    for orphan in sorted(masks - stems):
        report.add('warning', split, osp.join(ann_dir, orphan),
                   'mask without an image; the dataset ignores it')
    spec['items'] = items
    return True


def _run(job):
    fn, args = job
    return fn(*args)


def _inspect_all(specs: List[dict], grey_threshold: float, workers: int,
                 progress: bool) -> None:
    """Decode every image and mask, in ``workers`` processes."""
    jobs = []
    for spec in specs:
        for item in spec['items']:
            jobs.append((inspect_image, (item['img'], grey_threshold)))
            if item['mask']:
                jobs.append((inspect_mask, (item['mask'], spec['num_classes'],
                                            spec['ignore_index'])))
    # MMEngine's progress bars, on stderr (the report may go to stdout)
    if workers > 1 and progress:
        results = track_parallel_progress(
            _run, jobs, workers, chunksize=16, file=sys.stderr)
    elif workers > 1:
        with Pool(workers) as pool:
            results = pool.map(_run, jobs, chunksize=16)
    elif progress:
        results = track_progress(_run, jobs, file=sys.stderr)
    else:
        results = [_run(job) for job in jobs]
    by_path = {r['path']: r for r in results}
    for spec in specs:
        for item in spec['items']:
            item['img_info'] = by_path[item['img']]
            item['mask_info'] = by_path.get(item['mask'])


def _file_findings(spec: dict, report: DatasetReport) -> None:
    """Per-file errors, sizes against the split's usual size, duplicates."""
    split = spec['split']
    sizes = Counter(
        tuple(i['img_info']['size']) for i in spec['items']
        if 'size' in i['img_info'])
    usual = sizes.most_common(1)[0][0] if sizes else None
    by_identity, by_hash = defaultdict(list), defaultdict(list)
    for item in spec['items']:
        info, minfo = item['img_info'], item['mask_info']
        for level in ('errors', 'warnings'):
            for msg in info[level]:
                report.add(level[:-1], split, item['img'], msg)
            for msg in (minfo or {}).get(level, []):
                report.add(level[:-1], split, item['mask'], msg)
        size = info.get('size')
        if size and usual and tuple(size) != usual:
            report.add(
                'error' if spec['training'] else 'warning', split, item['img'],
                f'{size[0]}x{size[1]} pixels, the other patches '
                f'of this split are {usual[0]}x{usual[1]}' +
                (' (a training batch needs one size)'
                 if spec['training'] else ''))
        if size and minfo and 'size' in minfo and \
                tuple(minfo['size']) != tuple(size):
            report.add(
                'error', split, item['mask'],
                f"mask is {minfo['size'][0]}x{minfo['size'][1]}, its "
                f'image is {size[0]}x{size[1]}')
        by_identity[item['identity']].append(item)
        if 'sha1' in info:
            by_hash[info['sha1']].append(item)
    for identity, group in by_identity.items():
        if len(group) > 1:
            labels = {str(g['label']) for g in group}
            conflicting = spec['cls_label_from'] == 'filename' and \
                len(labels) > 1
            for g in group:
                others = [o['img'] for o in group if o is not g]
                report.add(
                    'error' if conflicting else 'warning', split, g['img'],
                    'duplicate patch name ' +
                    ('with a different label ' if conflicting else '') +
                    f'(also {", ".join(others)})')
    for group in by_hash.values():
        names = {g['identity'] for g in group}
        if len(names) > 1:
            for g in group:
                report.add(
                    'warning', split, g['img'], 'same pixels as ' +
                    ', '.join(o['img'] for o in group if o is not g))


def _cross_split_findings(specs: List[dict], report: DatasetReport) -> None:
    """Patches present in two splits (by content): evaluation leakage."""
    seen = {}
    for spec in specs:
        for item in spec['items']:
            sha = item['img_info'].get('sha1')
            if sha is None:
                continue
            if sha in seen and seen[sha][0] != spec['split']:
                report.add(
                    'warning', spec['split'], item['img'],
                    f'same pixels as {seen[sha][1]} in split '
                    f'{seen[sha][0]} (leakage between splits)')
            seen.setdefault(sha, (spec['split'], item['img']))


def _summarise(spec: dict, bank: Optional[dict],
               report: DatasetReport) -> dict:
    """Per-class counts; single-label patches usable by the image bank."""
    n = spec['num_classes']
    labels, white, pixels = [], [], np.zeros(n + 1)
    for item in spec['items']:
        label = item['label']
        minfo = item['mask_info']
        if minfo and 'pixels' in minfo:
            pixels += minfo['pixels']
            if label is None:
                label = [int(p > 0) for p in minfo['pixels'][:n]]
        if label is None:
            continue
        labels.append(label)
        white.append(item['img_info'].get('white_fraction', 1.))
    labels = np.asarray(labels, dtype=int).reshape(-1, n)
    summary = dict(
        split=spec['split'],
        img_dir=spec['img_dir'],
        images=len(spec['items']),
        masks=sum(i['mask'] is not None for i in spec['items']),
        labels_from=spec['cls_label_from'],
        classes=spec['classes'],
        patches_per_class=labels.sum(0).tolist())
    if spec['ann_dir'] is not None and pixels.sum():
        summary['pixel_fraction'] = (pixels[:n] / pixels.sum()).tolist()
    if spec['training']:
        single = labels.sum(1) == 1
        max_white = (bank or {}).get('max_white_fraction', 0.5)
        usable = single & (np.asarray(white) <= max_white)
        summary['single_label'] = labels[single].sum(0).tolist()
        summary['bank_usable'] = labels[usable].sum(0).tolist()
        k = (bank or {}).get('k_per_class', 3)
        for c, name in enumerate(spec['classes']):
            got = summary['bank_usable'][c]
            if bank is not None and got == 0:
                report.add(
                    'error', spec['split'], spec['img_dir'],
                    f'class {name} has no single-label patch at most '
                    f'{max_white:.0%} white: the image bank cannot be '
                    'built')
            elif bank is not None and got < k:
                report.add(
                    'warning', spec['split'], spec['img_dir'],
                    f'class {name} has {got} single-label patch(es) '
                    f'for the image bank, fewer than k_per_class={k}')
    return summary


def check_config_datasets(cfg,
                          workers: int = 1,
                          progress: bool = True,
                          config_name: str = '') -> DatasetReport:
    """Check every file of the config's train / val / test datasets.

    Args:
        cfg (Config): A config with ``*_dataloader.dataset`` of
            :class:`HistoWSSSDataset` types.
        workers (int): Processes decoding files (1: in this process).
        progress (bool): Show a progress bar.
        config_name (str): Name used in the report.

    Returns:
        DatasetReport: Findings (errors, warnings) and per-split summaries.
    """
    report = DatasetReport(config=config_name or cfg.filename or 'config')
    bank = next((h for h in cfg.get('custom_hooks', [])
                 if h.get('type') == 'ImageBankHook'), None)
    specs = [s for s in _split_specs(cfg, report) if _list_split(s, report)]
    grey = (bank or {}).get('grey_threshold', 200.)
    _inspect_all(specs, grey, workers, progress)
    for spec in specs:
        _file_findings(spec, report)
    _cross_split_findings(specs, report)
    report.splits = [_summarise(s, bank, report) for s in specs]
    return report
