"""Write stage-one pseudo labels as P-mode PNGs, resumably."""
import glob
import os
import os.path as osp
from typing import Callable, Optional

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.dist import all_reduce, barrier, get_dist_info
from PIL import Image
from tqdm import tqdm

from ..models.segmentors.wsss_cam_segmentor import tta_switched
from ..utils import atomic_path


def best_checkpoint(work_dir: str) -> str:
    """The best-validation checkpoint of a training run.

    Args:
        work_dir (str): The run's work folder.

    Returns:
        str: The newest ``best_*.pth`` there (MMEngine's ``save_best``).

    Raises:
        FileNotFoundError: naming the folder, when it holds none.
    """
    found = sorted(
        glob.glob(osp.join(work_dir, 'best_*.pth')), key=osp.getmtime)
    if not found:
        raise FileNotFoundError(
            f'{work_dir}: no best-validation checkpoint (best_*.pth); train '
            "with the checkpoint hook's save_best='mIoU' (the default of "
            'these configs), give --work-dir, or name a CHECKPOINT')
    return found[-1]


def pseudo_label_path(out_dir: str, img_path: str) -> str:
    """``out_dir/<image stem>.png``: the name a stage-two dataset pairs."""
    return osp.join(out_dir, osp.splitext(osp.basename(img_path))[0] + '.png')


def save_index_png(path: str, mask: np.ndarray, palette) -> None:
    """Write ``mask`` as a P-mode PNG with ``palette``, atomically."""
    image = Image.fromarray(mask.astype(np.uint8), mode='P')
    flat = [int(v) for rgb in palette for v in rgb]
    image.putpalette(flat + [0] * (768 - len(flat)))
    with atomic_path(path) as tmp:
        image.save(tmp, format='PNG')


@torch.no_grad()
def generate_pseudo_labels(model: torch.nn.Module,
                           dataset,
                           out_dir: str,
                           batch_size: int = 8,
                           overlay_dir: Optional[str] = None,
                           num_overlays: int = 0,
                           on_batch: Optional[Callable[[int], None]] = None,
                           tta: bool = False) -> dict:
    """Predict a pseudo mask for every image of ``dataset``.

    Images whose PNG already exists are skipped (PNGs are written under a
    temporary name and renamed, so an existing file is complete); leftover
    temporary files of an interrupted run are removed. The model's own
    ``predict`` applies the configured CAM fusion, label masking and
    background rules; its test-time augmentation only when ``tta`` is True
    (the released PBIP code makes pseudo labels without it).

    In multi-process runs (a launcher's process group) the batches are
    dealt to the ranks round-robin; each batch is the one a single process
    would run, so the PNGs are identical to a single-process run. Every
    rank must call this function.

    Args:
        model (nn.Module): A segmentor in eval mode (e.g. PBIPSegmentor).
        dataset: A dataset whose pipeline loads the image and packs
            ``gt_cls_label`` (:class:`PackHistoSegInputs`).
        out_dir (str): Folder of the PNGs, ``<stem>.png`` per image.
        batch_size (int): Images per forward pass.
        overlay_dir (str, optional): Where to save overlays (image, CAM
            heat map, pseudo mask).
        num_overlays (int): Overlays for the first N images to write.
        on_batch (callable, optional): Called with the number of images
            written so far after every batch (progress hooks, tests).
        tta (bool): Use the model's test-time augmentation. Defaults to
            False.

    Returns:
        dict: ``total``, ``written`` (by all ranks), ``skipped``.

    Raises:
        RuntimeError: If, at the end, some image has no pseudo label.
    """
    rank, world = get_dist_info()
    if rank == 0:
        os.makedirs(out_dir, exist_ok=True)
        for tmp in glob.glob(osp.join(out_dir, '.tmp-*')):
            os.remove(tmp)
    barrier()  # nobody lists or writes before the cleanup is done
    palette = dataset.metainfo['palette']
    todo = [
        i for i in range(len(dataset)) if not osp.isfile(
            pseudo_label_path(out_dir,
                              dataset.get_data_info(i)['img_path']))
    ]
    starts = list(range(0, len(todo), batch_size))[rank::world]
    written = 0
    model.eval()
    with tta_switched(model, tta):
        for start in tqdm(
                starts, desc='pseudo labels', unit='batch', disable=rank != 0):
            batch = pseudo_collate(
                [dataset[i] for i in todo[start:start + batch_size]])
            data = model.data_preprocessor(batch, False)
            for offset, sample in enumerate(model.predict(**data)):
                mask = sample.pred_sem_seg.data[0].cpu().numpy()
                path = pseudo_label_path(out_dir, sample.img_path)
                save_index_png(path, mask, palette)
                if overlay_dir and start + offset < num_overlays:
                    cams = sample.seg_logits.data.cpu().numpy() \
                        if 'seg_logits' in sample else None
                    save_overlay(
                        overlay_dir,
                        sample.img_path,
                        mask,
                        palette,
                        cams,
                        classes=dataset.metainfo.get('classes'))
                written += 1
            if on_batch is not None:
                on_batch(written)
    count = torch.tensor(written)
    all_reduce(count)  # sum over ranks; no-op in one process
    barrier()
    missing = [
        dataset.get_data_info(i)['img_path'] for i in range(len(dataset))
        if not osp.isfile(
            pseudo_label_path(out_dir,
                              dataset.get_data_info(i)['img_path']))
    ]
    if missing:
        raise RuntimeError(f'{len(missing)} images have no pseudo label in '
                           f'{out_dir}, e.g. {missing[:3]}')
    return dict(
        total=len(dataset),
        written=int(count),
        skipped=len(dataset) - len(todo))


LEGEND_BACKGROUND = (40, 40, 40)


def legend_strip(width: int, names, colours) -> np.ndarray:
    """``[h, width, 3]`` uint8: a colour box and the name of every label, in
    rows that wrap at ``width``."""
    from PIL import ImageDraw, ImageFont
    font = ImageFont.load_default()
    box, gap, line = 10, 6, 14
    entries = []  # (x, y, colour, name)
    x, y = gap, 2
    for name, colour in zip(names, colours):
        size = box + 4 + int(font.getlength(name)) + gap
        if x > gap and x + size > width:
            x, y = gap, y + line
        entries.append((x, y, colour, name))
        x += size
    strip = Image.new('RGB', (width, y + line + 2), LEGEND_BACKGROUND)
    draw = ImageDraw.Draw(strip)
    for x, y, colour, name in entries:
        draw.rectangle([x, y + 1, x + box - 1, y + box], fill=tuple(colour))
        draw.text((x + box + 4, y), name, fill=(255, 255, 255), font=font)
    return np.asarray(strip)


def save_overlay(overlay_dir: str,
                 img_path: str,
                 mask: np.ndarray,
                 palette,
                 cams: Optional[np.ndarray] = None,
                 alpha: float = 0.5,
                 classes=None) -> None:
    """Image | CAM heat map | pseudo mask blended on the image, and under them
    a legend of the labels in the mask (when ``classes`` is given).

    Args:
        overlay_dir (str): Output folder (``<stem>_overlay.png``).
        img_path (str): The image.
        mask (np.ndarray): ``[H, W]`` pseudo label.
        palette (list): Dataset palette, one RGB per label.
        cams (np.ndarray, optional): ``[N, H, W]`` fused CAMs in [0, 1]; the
            heat map shows their maximum over classes.
        alpha (float): Opacity of the colours.
        classes (Sequence[str], optional): Name of every label (the
            dataset's ``classes``): adds the legend.
    """
    os.makedirs(overlay_dir, exist_ok=True)
    img = np.asarray(Image.open(img_path).convert('RGB'), dtype=np.float32)
    colours = np.asarray(palette, dtype=np.float32)[mask]
    panels = [img]
    if cams is not None:
        heat = np.clip(cams.max(0), 0, 1)[..., None]
        red_to_yellow = np.concatenate(
            [np.ones_like(heat), heat,
             np.zeros_like(heat)], -1) * 255
        panels.append((1 - alpha * heat) * img + alpha * heat * red_to_yellow)
    panels.append((1 - alpha) * img + alpha * colours)
    picture = np.concatenate(panels, axis=1).astype(np.uint8)
    if classes is not None:
        present = [int(v) for v in np.unique(mask)]
        picture = np.concatenate([
            picture,
            legend_strip(picture.shape[1], [classes[v] for v in present],
                         [palette[v] for v in present])
        ],
                                 axis=0)
    Image.fromarray(picture).save(
        osp.join(overlay_dir,
                 osp.splitext(osp.basename(img_path))[0] + '_overlay.png'))
