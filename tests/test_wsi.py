"""Whole-slide inference on slides the tests write in real formats."""
import csv
import json
import os
import os.path as osp
import re

import numpy as np
import pytest
import tifffile
import torch
from utils import PBIP_DEMO, REPO, run, tiny_pbip_options
from wsi_helpers import (CLASSES, class_colours, slide_layout,
                         write_colour_model, write_slide)

from mmseg_pbip.apis.wsi import SlideError, SlideReader, infer_slide, make_grid
from mmseg_pbip.apis.wsi.inference import load_segmentor

PALETTE = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [153, 0, 255],
           [255, 255, 255]]
W, H, MPP = 4096, 3072, 0.25  # level 0; the model runs at 0.5 um/px
SCALE = 8  # level-0 pixels per output pixel (2 x out_downsample 4)
ENV = dict(
    PYTHONPATH=os.pathsep.join(
        [osp.join(REPO, 'tests')] +
        [p for p in [os.environ.get('PYTHONPATH')] if p]))


@pytest.fixture(scope='module')
def slide(tmp_path_factory):
    root = tmp_path_factory.mktemp('wsi')
    layout = slide_layout(W, H)
    path = str(root / 'case1.tiff')
    write_slide(path, layout, MPP)
    cfg, ckpt = write_colour_model(str(root), class_colours())
    return dict(root=root, path=path, layout=layout, cfg=cfg, ckpt=ckpt)


def colour_model(slide):
    from mmengine.config import Config
    cfg = Config.fromfile(slide['cfg'])
    return load_segmentor(cfg, slide['ckpt'])


def infer(model, path, out, **kw):
    kw = dict(dict(mpp=0.5, num_workers=0, progress=False), **kw)
    return infer_slide(model, path, out, list(CLASSES), PALETTE, 4, **kw)


def test_slide_through_the_tool(slide, tmp_path):
    """The command users run: IoU against the known layout, and every
    output in the format its readers expect."""
    out = str(tmp_path / 'out')
    _, log = run([
        'tools/infer_wsi.py', slide['cfg'], slide['ckpt'], slide['path'],
        '--out-dir', out, '--mpp', '0.5', '--workers', '2', '--no-progress'
    ],
                 env=ENV)
    m = re.search(r'(\d+) of (\d+) tiles on tissue', log)
    assert m and 0 < int(m.group(1)) < int(m.group(2))  # glass skipped
    folder = osp.join(out, 'case1')
    labels = tifffile.imread(osp.join(folder, 'mask.tiff'))
    truth = slide['layout'][SCALE // 2::SCALE, SCALE // 2::SCALE]
    assert labels.shape == truth.shape == (H // SCALE, W // SCALE)
    for c in range(5):
        inter = np.logical_and(labels == c, truth == c).sum()
        union = np.logical_or(labels == c, truth == c).sum()
        assert inter / union > 0.85, (CLASSES[c], inter / union)

    # pyramidal TIFF with its resolution, as OpenSlide-based viewers see it
    import openslide
    mask = openslide.OpenSlide(osp.join(folder, 'mask.tiff'))
    assert mask.level_count >= 2
    assert mask.level_dimensions[0] == (W // SCALE, H // SCALE)
    assert float(mask.properties['openslide.mpp-x']) == pytest.approx(2.0)

    # area table: counts, um^2 and tissue fractions, recomputed here
    with open(osp.join(folder, 'areas.csv')) as f:
        rows = {r['class']: r for r in csv.DictReader(f)}
    counts = np.bincount(labels.ravel(), minlength=5)
    tissue = counts[:4].sum()
    for c, name in enumerate(CLASSES):
        assert int(rows[name]['pixels']) == counts[c]
        assert float(rows[name]['area_um2']) == pytest.approx(counts[c] * 4)
        if c < 4:
            assert float(rows[name]['fraction_of_tissue']) == \
                pytest.approx(counts[c] / tissue, abs=1e-6)

    # GeoJSON: QuPath's shape, valid closed rings, level-0 coordinates
    from shapely.geometry import Point, box, shape
    with open(osp.join(folder, 'annotations.geojson')) as f:
        gj = json.load(f)
    assert gj['type'] == 'FeatureCollection'
    names = [f['properties']['classification']['name'] for f in gj['features']]
    assert names == ['TUM', 'STR', 'LYM', 'NEC']
    bands = np.linspace(W // 8, W - W // 8, 5).astype(int)
    for f in gj['features']:
        props = f['properties']
        assert props['objectType'] == 'annotation'
        c = CLASSES.index(props['classification']['name'])
        assert props['classification']['color'] == PALETTE[c]
        geom = shape(f['geometry'])
        assert geom.is_valid
        parts = list(getattr(geom, 'geoms', [geom]))
        assert f['geometry']['type'] == ('Polygon' if len(parts) == 1 else
                                         'MultiPolygon')
        rings = [f['geometry']['coordinates']] if len(parts) == 1 else \
            f['geometry']['coordinates']
        for polygon in rings:
            for ring in polygon:
                assert ring[0] == ring[-1] and len(ring) >= 4
        minx, miny, maxx, maxy = geom.bounds
        assert minx >= 0 and miny >= 0 and maxx <= W and maxy <= H
        # area: the class's pixels, at level 0
        assert geom.area == pytest.approx(counts[c] * SCALE**2, rel=0.1)
        # it covers its band of the layout
        band = box(bands[c], H // 6, bands[c + 1], H - H // 6)
        assert geom.intersection(band).area / geom.area > 0.85
    # the glass hole inside the stroma band is a hole of the STR polygon
    stroma = shape(gj['features'][1]['geometry'])
    centre = Point((bands[1] + bands[2]) / 2, H / 2)
    assert not stroma.contains(centre)
    assert stroma.buffer(H / 12 + 50).contains(centre)


def test_glass_tiles_are_never_read(slide, tmp_path, monkeypatch):
    reads = []
    original = SlideReader.read

    def spy(self, x, y, level, size, out_size=None):
        reads.append((x, y, level, size))
        return original(self, x, y, level, size, out_size)

    monkeypatch.setattr(SlideReader, 'read', spy)
    stats = infer(colour_model(slide), slide['path'], str(tmp_path / 'o'))
    reader = SlideReader(slide['path'])
    grid = make_grid(reader, 224, 32, 4, mpp=0.5)
    tile_reads = [r for r in reads if r[3] == (grid.read_size, ) * 2]
    assert len(tile_reads) == stats['tissue_tiles'] < stats['tiles']
    side = grid.tile * grid.model_down
    layout = slide['layout']
    touched = 0
    for x, y, _, _ in tile_reads:
        region = layout[y:y + int(side), x:x + int(side)]
        touched += int((region != 4).any())
    # every tile read touches tissue (within the thumbnail's precision)
    assert touched >= len(tile_reads) - 2
    # and every tile with tissue was read
    expected = 0
    for r in range(grid.rows):
        for c in range(grid.cols):
            x, y = grid.origin(r, c)
            region = layout[y + 16:y + int(side) - 16,
                            x + 16:x + int(side) - 16]
            expected += int((region != 4).any())
    assert len(tile_reads) >= expected


def outputs(folder):
    with open(osp.join(folder, 'annotations.geojson')) as f:
        geo = f.read()
    with open(osp.join(folder, 'areas.csv')) as f:
        areas = f.read()
    return tifffile.imread(osp.join(folder, 'mask.tiff')), geo, areas


def test_killed_run_resumes_to_identical_outputs(slide, tmp_path):
    model = colour_model(slide)
    whole = infer(model, slide['path'], str(tmp_path / 'whole'), batch_size=4)

    def stop(done):
        if done >= 14:
            raise KeyboardInterrupt

    part = str(tmp_path / 'part')
    with pytest.raises(KeyboardInterrupt):
        infer(model, slide['path'], part, batch_size=4, on_batch=stop)
    assert osp.isfile(osp.join(part, 'work', 'state.npz'))
    assert not osp.isfile(osp.join(part, 'mask.tiff'))
    rest = infer(model, slide['path'], part, batch_size=4)
    # no finished batch is computed again: 16 tiles before, the rest now
    assert rest['computed_tiles'] == whole['tissue_tiles'] - 16
    a, b = outputs(osp.join(str(tmp_path), 'whole')), outputs(part)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]
    assert not osp.isdir(osp.join(part, 'work'))
    # a finished slide is skipped; other settings are refused, for its
    # outputs as for an interrupted run
    assert infer(model, slide['path'], part, batch_size=4)['skipped']
    with pytest.raises(ValueError, match='outputs of another run'):
        infer(model, slide['path'], part, batch_size=8)
    with pytest.raises(KeyboardInterrupt):
        infer(
            model,
            slide['path'],
            part,
            batch_size=4,
            overwrite=True,
            on_batch=stop)
    with pytest.raises(ValueError, match='other settings'):
        infer(model, slide['path'], part, batch_size=8)


def test_memory_grows_much_less_than_the_slide(slide, tmp_path):
    """Peak RSS of a run on a slide of 4x the area, against the small one (the
    benchmark tool in fresh processes, no worker processes)."""
    small = str(tmp_path / 'small.tiff')
    write_slide(small, slide_layout(W // 2, H // 2), MPP, seed=1)
    peaks = []
    for path in (small, slide['path']):
        _, log = run([
            'tools/analysis_tools/benchmark_wsi.py', slide['cfg'],
            slide['ckpt'], path, '--workers', '0'
        ],
                     env=ENV)
        peaks.append(float(re.search(r'peak RSS: (\d+) MiB', log).group(1)))
        assert re.search(r'tiles/s: [\d.]+', log)
    assert peaks[1] < 1.4 * peaks[0], peaks


def test_tile_loop_memory_is_bounded_by_the_output_width(slide, tmp_path):
    """Live numpy memory during the tile loop (tracemalloc, sampled after every
    batch) grows with the slide's width, not its area: far less than full-size
    accumulators would add."""
    import tracemalloc
    model = colour_model(slide)
    small = str(tmp_path / 'small.tiff')
    write_slide(small, slide_layout(W // 2, H // 2), MPP, seed=1)
    peaks, sizes = [], []
    for path in (small, slide['path']):
        seen = []
        tracemalloc.start()
        try:
            out = str(tmp_path / ('out-' + osp.basename(path)))
            stats = infer(
                model,
                path,
                out,
                on_batch=lambda n: seen.append(tracemalloc.get_traced_memory()[
                    0]))
        finally:
            tracemalloc.stop()
        peaks.append(max(seen))
        sizes.append(stats['out_size'][0] * stats['out_size'][1])
    # full-size float32 accumulators for 5 labels would add this much
    full = 5 * 4 * (sizes[1] - sizes[0])
    assert sizes[1] == 4 * sizes[0]
    assert peaks[1] - peaks[0] < full / 2, (peaks, full)


def test_bad_input_is_named(slide, tmp_path):
    model = colour_model(slide)
    bad = tmp_path / 'broken.svs'
    bad.write_text('not a slide')
    with pytest.raises(SlideError, match='broken.svs: unsupported'):
        infer(model, str(bad), str(tmp_path / 'a'))
    # a plain PNG has no resolution: --slide-mpp or --level is needed
    from PIL import Image
    png = str(tmp_path / 'field.png')
    rgb = write_slide(
        str(tmp_path / 'tmp.tiff'), slide_layout(768, 512), MPP, levels=1)
    Image.fromarray(rgb).save(png)
    with pytest.raises(
            SlideError, match='field.png: the slide has no '
            'resolution metadata'):
        infer(model, png, str(tmp_path / 'b'))
    stats = infer(model, png, str(tmp_path / 'c'), slide_mpp=MPP)
    assert stats['out_size'] == (768 // SCALE, 512 // SCALE)
    stats = infer(model, png, str(tmp_path / 'd'), level=0)
    assert stats['out_size'] == (768 // 4, 512 // 4)
    with pytest.raises(SlideError, match='level 3 does not exist'):
        infer(model, slide['path'], str(tmp_path / 'e'), level=3)
    # a checkpoint of other classes is refused, naming it
    from mmengine.config import Config
    cfg = Config.fromfile(slide['cfg'])
    other = str(tmp_path / 'other.pth')
    state = torch.load(slide['ckpt'], weights_only=True)
    state['meta']['dataset_meta']['classes'] = ('A', 'B', 'C', 'D', 'E')
    torch.save(state, other)
    with pytest.raises(
            ValueError,
            match='other.pth does not fit .*'
            r"trained on the classes \['A'"):
        load_segmentor(cfg, other)
    _, log = run([
        'tools/infer_wsi.py', slide['cfg'], slide['ckpt'], png, '--out-dir',
        str(tmp_path / 'f')
    ],
                 env=ENV,
                 check=False)
    assert 'field.png: the slide has no resolution metadata' in log


def test_stage_one_cam_model_on_a_slide(demo_root, tmp_path):
    """A PBIP stage-one checkpoint maps a slide with every class competing (no
    image-level label); glass comes from the tissue mask."""
    from mmengine.config import Config
    from mmseg.registry import MODELS
    cfg = Config.fromfile(PBIP_DEMO)
    cfg.merge_from_dict(tiny_pbip_options(demo_root, str(tmp_path)))
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.head.set_prototypes(torch.randn(8, 512), (2, 2, 2, 2))
    ckpt = str(tmp_path / 'stage1.pth')
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=CLASSES))), ckpt)
    cfg.dump(str(tmp_path / 'stage1.py'))
    cfg = Config.fromfile(str(tmp_path / 'stage1.py'))
    model = load_segmentor(cfg, ckpt)  # encoder weights from the checkpoint
    path = str(tmp_path / 'small.tiff')
    layout = slide_layout(1024, 768)
    write_slide(path, layout, MPP, levels=2)
    stats = infer(model, path, str(tmp_path / 'out'), tile=64, overlap=16)
    labels = tifffile.imread(stats['mask.tiff'])
    assert set(np.unique(labels)) <= {0, 1, 2, 3, 4}
    truth = layout[SCALE // 2::SCALE, SCALE // 2::SCALE]
    glass = truth == 4
    assert (labels[glass] == 4).mean() > 0.9  # glass from the tissue mask
    assert (labels[~glass] != 4).mean() > 0.9  # PBIP: never background


def test_slides_dealt_to_two_processes(slide, tmp_path):
    """Torchrun (tools/dist_run.sh) with 2 CPU processes: each slide is mapped
    once, by one process, to the same outputs as one process."""
    import shutil
    import socket
    import sys
    second = str(tmp_path / 'case2.tiff')
    shutil.copy(slide['path'], second)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = str(s.getsockname()[1])
    out = str(tmp_path / 'out')
    _, log = run([
        osp.join('tools', 'dist_run.sh'), 'infer_wsi.py', '2', slide['cfg'],
        slide['ckpt'], slide['path'], second, '--out-dir', out, '--mpp', '0.5',
        '--workers', '0', '--no-progress'
    ],
                 interpreter='bash',
                 env=dict(
                     ENV,
                     PYTHON=sys.executable,
                     PORT=port,
                     OMP_NUM_THREADS='1'))
    assert log.count('case1.tiff:') == 1 and log.count('case2.tiff:') == 1
    one = tifffile.imread(osp.join(out, 'case1', 'mask.tiff'))
    two = tifffile.imread(osp.join(out, 'case2', 'mask.tiff'))
    assert np.array_equal(one, two)  # same pixels, either process
