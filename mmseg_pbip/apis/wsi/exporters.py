"""Write a slide's label map: pyramidal TIFF, overview, GeoJSON, areas."""
import csv
import json
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from ...utils import atomic_path, import_optional

TILE = 256


def _tiles(level: np.ndarray):
    """``TILE`` x ``TILE`` tiles of a 2-D array, row-major, zero-padded."""
    h, w = level.shape
    for y in range(0, h, TILE):
        for x in range(0, w, TILE):
            block = np.zeros((TILE, TILE), level.dtype)
            part = level[y:y + TILE, x:x + TILE]
            block[:part.shape[0], :part.shape[1]] = part
            yield block


def write_label_tiff(path: str, labels: np.ndarray,
                     palette: Sequence[Sequence[int]],
                     mpp: Optional[float]) -> None:
    """Label map as a tiled, pyramidal TIFF (QuPath, OpenSlide viewers).

    One palette-colour page per level (full size, then halved by taking
    every other pixel, down to at most ``TILE`` pixels), tiles of
    ``TILE`` x ``TILE``, zlib-compressed, the pixel values being the class
    indices, with the resolution in the TIFF tags. The tiles are read from
    ``labels`` (a memory map works) one at a time.

    Args:
        path (str): Output ``.tiff``.
        labels (np.ndarray): ``[H, W]`` uint8 class indices.
        palette (Sequence): RGB of every class index.
        mpp (float, optional): Micrometres per pixel of ``labels``.
    """
    tifffile = import_optional('tifffile')
    colormap = np.zeros((3, 256), np.uint16)
    for i, rgb in enumerate(palette):
        colormap[:, i] = np.asarray(rgb, np.uint16) * 257
    levels = [labels]
    while max(levels[-1].shape) > TILE:
        levels.append(labels[::2**len(levels), ::2**len(levels)])
    with atomic_path(path) as tmp, tifffile.TiffWriter(
            tmp, bigtiff=labels.size > 2**31) as tw:
        for i, level in enumerate(levels):
            extra = {}
            if mpp:
                px_per_cm = 1e4 / (mpp * 2**i)
                extra = dict(
                    resolution=(px_per_cm, px_per_cm),
                    resolutionunit='CENTIMETER')
            tw.write(
                _tiles(level),
                shape=level.shape,
                dtype=np.uint8,
                tile=(TILE, TILE),
                photometric='palette',
                colormap=colormap,
                compression='zlib',
                subfiletype=1 if i else 0,
                **extra)


def class_pixel_counts(labels: np.ndarray,
                       num_labels: int,
                       rows: int = 1024) -> np.ndarray:
    """Pixels per class index, counted in strips of ``rows`` rows."""
    counts = np.zeros(num_labels, np.int64)
    for y in range(0, labels.shape[0], rows):
        counts += np.bincount(
            np.asarray(labels[y:y + rows]).ravel(),
            minlength=num_labels)[:num_labels]
    return counts


def write_area_table(path: str, counts: np.ndarray, classes: Sequence[str],
                     background_index: int, mpp: Optional[float]) -> None:
    """Per-class CSV: pixels, um^2 (blank without a resolution), fraction
    of the tissue (all classes but the background)."""
    tissue = int(counts.sum() - counts[background_index])
    with atomic_path(path) as tmp, open(tmp, 'w', newline='') as f:
        out = csv.writer(f)
        out.writerow(['class', 'pixels', 'area_um2', 'fraction_of_tissue'])
        for i, name in enumerate(classes):
            area = '' if mpp is None else f'{counts[i] * mpp * mpp:.1f}'
            frac = '' if i == background_index or not tissue else \
                f'{counts[i] / tissue:.6f}'
            out.writerow([name, int(counts[i]), area, frac])


def label_polygons(labels: np.ndarray,
                   index: int,
                   scale: float,
                   min_area: float = 0.):
    """Polygons of one class, in level-0 coordinates.

    Outer boundaries and their holes come from OpenCV's two-level contour
    hierarchy (``RETR_CCOMP``) through the pixel centres; each becomes a
    shapely polygon (made valid), scaled by ``scale`` level-0 pixels per
    label pixel. Parts smaller than ``min_area`` (level-0 pixels^2) are
    dropped.

    Returns:
        shapely geometry or None: a Polygon, a MultiPolygon, or None when
        nothing is left.
    """
    import_optional('shapely')  # the 'wsi' extra, named if missing
    from shapely import make_valid
    from shapely.geometry import MultiPolygon, Polygon
    from shapely.geometry.polygon import orient
    from shapely.ops import unary_union
    mask = (np.asarray(labels) == index).astype(np.uint8)
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP,
                                           cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return None
    hierarchy = hierarchy[0]

    def ring(contour):
        pts = contour[:, 0, :].astype(np.float64)
        return (pts + 0.5) * scale

    parts = []
    for i, contour in enumerate(contours):
        if hierarchy[i][3] != -1 or len(contour) < 3:
            continue  # holes are taken with their parent
        holes = []
        child = hierarchy[i][2]
        while child != -1:
            if len(contours[child]) >= 3:
                holes.append(ring(contours[child]))
            child = hierarchy[child][0]
        # a ring through pixel centres touches itself where the region is
        # one pixel wide: make_valid splits it (into polygons and lines)
        for piece in _polygons(make_valid(Polygon(ring(contour), holes))):
            if piece.area >= max(min_area, 1e-9):
                parts.append(piece)
    if not parts:
        return None
    pieces = [orient(p, 1.0) for p in _polygons(unary_union(parts))]
    return pieces[0] if len(pieces) == 1 else MultiPolygon(pieces)


def _polygons(geom) -> list:
    """The polygons in any shapely geometry (collections flattened)."""
    from shapely.geometry import Polygon
    if isinstance(geom, Polygon):
        return [geom] if not geom.is_empty else []
    return [p for part in getattr(geom, 'geoms', []) for p in _polygons(part)]


def write_geojson(path: str,
                  labels: np.ndarray,
                  classes: Sequence[str],
                  palette: Sequence[Sequence[int]],
                  background_index: int,
                  scale: float,
                  min_area: float = 0.) -> int:
    """QuPath-compatible GeoJSON: one annotation per tissue class.

    Each class present becomes a Feature whose geometry is a Polygon (one
    part) or a MultiPolygon (several), rings closed and exterior
    counter-clockwise, holes kept, in level-0 pixel coordinates, with
    ``properties.objectType = 'annotation'`` and
    ``properties.classification = {name, color}`` as QuPath writes them.

    Returns:
        int: The number of features written.
    """
    import_optional('shapely')  # the 'wsi' extra, named if missing
    from shapely.geometry import mapping
    features: List[Dict] = []
    for i, name in enumerate(classes):
        if i == background_index:
            continue
        geom = label_polygons(labels, i, scale, min_area)
        if geom is None:
            continue
        features.append(
            dict(
                type='Feature',
                geometry=mapping(geom),
                properties=dict(
                    objectType='annotation',
                    classification=dict(
                        name=name, color=[int(v) for v in palette[i]]))))
    with atomic_path(path) as tmp, open(tmp, 'w') as f:
        json.dump(dict(type='FeatureCollection', features=features), f)
    return len(features)


def write_overview(path: str,
                   thumb: np.ndarray,
                   labels: np.ndarray,
                   classes: Sequence[str],
                   palette: Sequence[Sequence[int]],
                   background_index: int,
                   fractions: Sequence[float],
                   alpha: float = 0.45) -> None:
    """PNG: the slide thumbnail with the class colours blended over the
    tissue, and a legend (colour, class, fraction of tissue).

    Args:
        thumb (np.ndarray): ``[h, w, 3]`` RGB thumbnail.
        labels (np.ndarray): Label map (any size; sampled to the thumb).
    """
    h, w = thumb.shape[:2]
    ys = np.minimum((np.arange(h) + 0.5) * labels.shape[0] / h,
                    labels.shape[0] - 1).astype(int)
    xs = np.minimum((np.arange(w) + 0.5) * labels.shape[1] / w,
                    labels.shape[1] - 1).astype(int)
    small = np.asarray(labels[ys][:, xs])
    colours = np.asarray(palette, np.float32)[small]
    tissue = (small != background_index)[..., None]
    view = np.where(tissue, (1 - alpha) * thumb + alpha * colours, thumb)
    row = 28
    legend = np.full((max(h, row * (len(classes) + 1)), 260, 3), 255, np.uint8)
    for i, name in enumerate(classes):
        y = row * i + 8
        cv2.rectangle(legend, (10, y), (30, y + 18),
                      tuple(int(v) for v in palette[i]), -1)
        cv2.rectangle(legend, (10, y), (30, y + 18), (0, 0, 0), 1)
        text = name if i == background_index else \
            f'{name} {100 * fractions[i]:.1f}%'
        cv2.putText(legend, text, (38, y + 15), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (0, 0, 0), 1, cv2.LINE_AA)
    canvas = np.full((max(h, legend.shape[0]), w + legend.shape[1], 3), 255,
                     np.uint8)
    canvas[:h, :w] = view.astype(np.uint8)
    canvas[:legend.shape[0], w:] = legend
    with atomic_path(path) as tmp:  # '.tmp-<name>.png': the format is kept
        if not cv2.imwrite(tmp, cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR)):
            raise OSError(f'{path}: cannot be written')
