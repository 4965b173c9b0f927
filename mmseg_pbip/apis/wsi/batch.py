"""Many slides in one run: a failing slide never stops the others.

Each slide ends ``done`` (mapped now), ``skipped`` (its finished outputs
were found) or ``failed`` (with the reason); the run's summary is written
beside the slides' folders as ``summary.csv`` and ``summary.json``.
"""
import csv
import json
import os
import os.path as osp
import sys
import traceback
from typing import Callable, Dict, List, Sequence, Tuple

from ...utils import atomic_path
from .slide_reader import SlideError

SUMMARY_COLUMNS = ('slide', 'name', 'status', 'reason', 'slide_mpp',
                   'mpp_source', 'model_mpp', 'upsampling', 'tissue_tiles',
                   'computed_tiles', 'seconds', 'out_dir')
STATUSES = ('done', 'skipped', 'failed')
# errors of the input or the disk: their message is enough, no traceback
EXPECTED_ERRORS = (SlideError, OSError, ValueError)


def plan_slides(slides: Sequence[str],
                out_dir: str) -> List[Tuple[str, str, str]]:
    """The slides of a run, each with its output folder, and an error for the
    slides that cannot be mapped in this run.

    A path given twice is mapped once. Different files of the same name
    would share one output folder (``out_dir/<name without extension>``):
    none of them is mapped, each with its reason, and the others are.

    Returns:
        list[tuple[str, str, str]]: (slide, output folder, error or '').
    """
    unique, seen = [], set()
    for slide in slides:
        real = osp.realpath(slide)
        if real not in seen:
            seen.add(real)
            unique.append(slide)
    names = [osp.splitext(osp.basename(p))[0] for p in unique]
    plan = []
    for slide, name in zip(unique, names):
        others = [p for p, n in zip(unique, names) if n == name and p != slide]
        error = '' if not others else (
            f'another slide of this run has the same name ({others[0]}); '
            'they would share one output folder: map them in separate runs')
        plan.append((slide, osp.join(out_dir, name), error))
    return plan


def map_slide_safely(infer: Callable[[str, str], Dict],
                     slide: str,
                     folder: str,
                     error: str = '') -> Tuple[Dict, Dict]:
    """Map one slide, turning any error into a ``failed`` summary row.

    Args:
        infer (callable): ``infer(slide, folder)`` returns
            :func:`infer_slide`'s statistics.
        slide (str): The slide file.
        folder (str): Its output folder.
        error (str): A reason not to map it (:func:`plan_slides`).

    Returns:
        tuple[dict, dict]: The summary row (``SUMMARY_COLUMNS``) and the
        statistics (empty unless mapped or skipped).
    """
    row = dict.fromkeys(SUMMARY_COLUMNS, '')
    row.update(slide=slide, name=osp.basename(folder), out_dir=folder)
    if error:
        return dict(row, status='failed', reason=error), {}
    try:
        stats = infer(slide, folder)
    except Exception as e:  # any one slide's error: report it, go on
        if not isinstance(e, EXPECTED_ERRORS):
            traceback.print_exc(file=sys.stderr)
        return dict(row, status='failed', reason=failure_reason(e, slide)), {}
    for key in ('slide_mpp', 'mpp_source', 'model_mpp', 'upsampling',
                'tissue_tiles', 'computed_tiles', 'seconds'):
        value = stats.get(key)
        row[key] = '' if value is None else (
            round(value, 4) if isinstance(value, float) else value)
    if stats['skipped']:
        return dict(row, status='skipped', reason='done before'), stats
    return dict(row, status='done'), stats


def failure_reason(error: BaseException, slide: str) -> str:
    """One line saying why a slide failed.

    The slide's path is left out of the front of the message (the summary
    names it); the type is kept unless it is a :class:`SlideError`; an
    error re-raised from a data-loader worker gives its original type and
    message (the last line of the worker's traceback).
    """
    text = str(error).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) > 1 and 'Traceback' in text:
        name, _, message = lines[-1].partition(': ')
        kind = name.rsplit('.', 1)[-1]  # 'module.Type: message'
    else:
        kind, message = type(error).__name__, ' '.join(lines)
    if message.startswith(f'{slide}: '):
        message = message[len(slide) + 2:]
    if kind == SlideError.__name__:
        return message
    return f'{kind}: {message}' if message else kind


def write_summary(out_dir: str, rows: Sequence[Dict]) -> Tuple[str, str]:
    """``out_dir/summary.csv`` (``SUMMARY_COLUMNS``, one row per slide) and
    ``out_dir/summary.json`` (``counts`` per status and the same ``slides``),
    each written atomically.

    Returns:
        tuple[str, str]: The two paths.
    """
    os.makedirs(out_dir, exist_ok=True)
    csv_path = osp.join(out_dir, 'summary.csv')
    json_path = osp.join(out_dir, 'summary.json')
    with atomic_path(csv_path) as tmp, open(tmp, 'w', newline='') as f:
        out = csv.DictWriter(f, SUMMARY_COLUMNS)
        out.writeheader()
        out.writerows(rows)
    counts = {s: sum(r['status'] == s for r in rows) for s in STATUSES}
    with atomic_path(json_path) as tmp, open(tmp, 'w') as f:
        json.dump(dict(counts=counts, slides=list(rows)), f, indent=1)
    return csv_path, json_path


def summary_text(rows: Sequence[Dict]) -> str:
    """The counts per status, then one line per failed slide."""
    counts = {s: sum(r['status'] == s for r in rows) for s in STATUSES}
    lines = [
        f"{len(rows)} slides: {counts['done']} done, {counts['skipped']} "
        f"skipped (done before), {counts['failed']} failed"
    ]
    lines += [
        f"  failed  {r['slide']}  ({r['reason']})" for r in rows
        if r['status'] == 'failed'
    ]
    return '\n'.join(lines)
