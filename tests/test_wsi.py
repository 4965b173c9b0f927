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


def test_bad_input_is_named(slide, tmp_path, capsys):
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
    # through the tool: the run cannot start (exit code 2), nothing written
    with pytest.raises(SystemExit) as stopped:
        tool_main(slide['cfg'], other, [png], str(tmp_path / 'h'))
    assert stopped.value.code == 2
    assert 'other.pth does not fit' in capsys.readouterr().err
    assert not osp.exists(tmp_path / 'h')
    code, log = run([
        'tools/infer_wsi.py', slide['cfg'], slide['ckpt'], png, '--out-dir',
        str(tmp_path / 'f')
    ],
                    env=ENV,
                    check=False)
    assert code == 1
    assert 'field.png: failed: the slide has no resolution metadata' in log
    # a dpi that is a screen default is no scan resolution
    Image.fromarray(rgb).save(png, dpi=(72, 72))
    with pytest.raises(
            SlideError,
            match='no resolution metadata .*72 dpi: a '
            'screen or print default'):
        infer(model, png, str(tmp_path / 'g'))


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


def test_20x_slide_under_a_quarter_micron_config(slide, tmp_path, monkeypatch):
    """A slide scanned at 0.5 um/px, with the config's 0.25 um/px: mapped from
    level 0 upsampled 2x, with a warning that states both resolutions, the mask
    and the GeoJSON aligned to level 0; ``--no-upsample`` refuses it
    instead."""
    from mmseg_pbip.apis.wsi import tiling
    w0, h0, mpp0 = 1024, 768, 0.5
    path = str(tmp_path / 'scan20x.tiff')
    write_slide(path, slide_layout(w0, h0), mpp0, levels=2)
    warnings = []
    monkeypatch.setattr(tiling, 'print_log',
                        lambda msg, **kw: warnings.append(msg))
    out = str(tmp_path / 'out')
    # no --mpp: the config's wsi_mpp, 0.25
    assert tool_main(slide['cfg'], slide['ckpt'], [path], out) == 0
    assert warnings == [
        f"{path}: its finest level is 0.5 um/px, coarser than the model's "
        '0.25 um/px: the model expects pixels 2.00x finer; mapping level 0 '
        'upsampled 2.00x (detail finer than the scan is not recovered; '
        '--no-upsample refuses such slides)'
    ]
    folder = osp.join(out, 'scan20x')
    labels = tifffile.imread(osp.join(folder, 'mask.tiff'))
    # model pixels of 0.25 um, 4 per output pixel: 1 um, 2 level-0 pixels
    assert labels.shape == (h0 * 2 // 4, w0 * 2 // 4)
    # tissue spans level-0 [w0 / 8, 7 w0 / 8) x [h0 / 6, 5 h0 / 6)
    ys, xs = np.nonzero(labels != 4)
    assert [xs.min(), xs.max() + 1, ys.min(), ys.max() + 1] == \
        pytest.approx([w0 // 16, w0 * 7 // 16, h0 // 12, h0 * 5 // 12], abs=1)
    # the bands' borders: where the class of most of each column changes
    middle = labels[h0 // 12 + 8:h0 * 5 // 12 - 8]
    major = np.array(
        [np.bincount(col, minlength=5).argmax() for col in middle.T])
    bands = np.linspace(w0 // 8, w0 - w0 // 8, 5).astype(int)
    for c in range(3):
        border = bands[c + 1] / 2  # output pixels
        near = major[int(border) - 16:int(border) + 16]
        assert np.isin(near, (c, c + 1)).sum() >= 30  # a mixed column
        left = (near == c).sum() + (~np.isin(near, (c, c + 1))).sum() / 2
        assert int(border) - 16 + left == pytest.approx(border, abs=1.5)
    import openslide
    with openslide.OpenSlide(osp.join(folder, 'mask.tiff')) as mask:
        assert float(mask.properties['openslide.mpp-x']) == \
            pytest.approx(1.0)
    from shapely.geometry import shape
    from shapely.ops import unary_union
    with open(osp.join(folder, 'annotations.geojson')) as f:
        features = json.load(f)['features']
    assert len(features) == 4
    tissue = unary_union([shape(f['geometry']) for f in features])
    assert tissue.bounds == pytest.approx(  # level-0 pixels
        (w0 // 8, h0 // 6, w0 - w0 // 8, h0 - h0 // 6),
        abs=3)
    rows, _ = read_summary(out)
    assert rows[0]['status'] == 'done'
    assert float(rows[0]['upsampling']) == 2
    assert float(rows[0]['slide_mpp']) == 0.5
    assert float(rows[0]['model_mpp']) == 0.25
    # --no-upsample: the slide fails, saying what to do
    assert tool_main(slide['cfg'], slide['ckpt'], [path],
                     str(tmp_path / 'strict'), '--no-upsample') == 1
    rows, _ = read_summary(str(tmp_path / 'strict'))
    assert rows[0]['status'] == 'failed'
    assert rows[0]['reason'].startswith(
        'its finest level is 0.5 um/px, coarser than the model\'s 0.25 '
        'um/px: the model expects pixels 2.00x finer; refused '
        '(--no-upsample)')
    assert '--mpp 0.5' in rows[0]['reason']


def test_upsampled_tiles_lie_exactly_on_level_0(tmp_path):
    """Each upsampled tile shows a slide's edges where level-0 geometry puts
    them, to a fraction of a model pixel (rounding tile origins to whole
    level-0 pixels would shift them by up to 1 model pixel)."""
    from mmseg_pbip.apis.wsi import read_tile
    size, ex, ey, mpp0 = 600, 301, 217, 0.499
    rgb = np.full((size, size, 3), 128, np.uint8)
    rgb[..., 0] = np.where(np.arange(size) < ex, 255, 55)[None, :]
    rgb[..., 1] = np.where(np.arange(size) < ey, 255, 55)[:, None]
    path = str(tmp_path / 'edges.tiff')
    tifffile.imwrite(
        path,
        rgb,
        photometric='rgb',
        tile=(256, 256),
        resolution=(1e4 / mpp0, 1e4 / mpp0),
        resolutionunit='CENTIMETER')
    reader = SlideReader(path)
    grid = make_grid(reader, 224, 32, 4, mpp=0.25)
    down = 0.25 / mpp0  # level-0 pixels per model pixel
    assert grid.upsampling == pytest.approx(1 / down)

    def crossing(profile):
        """Sub-pixel position (pixel centres at i + 0.5) of the 155 level."""
        i = int(np.nonzero(profile < 155)[0][0])
        t = (profile[i - 1] - 155) / (profile[i - 1] - profile[i])
        return i - 0.5 + t

    checked = 0
    for n in range(grid.cols):
        origin = n * grid.stride  # in model pixels, along x and y alike
        for edge, channel, axis in ((ex, 0, 0), (ey, 1, 1)):
            expected = edge / down - origin
            if not 2 < expected < grid.tile - 2:
                continue
            tile = read_tile(reader, grid, *((0, n) if axis == 0 else (n, 0)))
            profile = tile[..., channel].astype(float).mean(axis)
            assert crossing(profile) == pytest.approx(expected, abs=0.2)
            checked += 1
    assert checked >= 3


def tool_main(cfg, ckpt, slides, out, *extra):
    """``tools/infer_wsi.py``'s main in this process; its exit code."""
    import infer_wsi
    return infer_wsi.main([
        cfg, ckpt, *slides, '--out-dir', out, '--workers', '0',
        '--no-progress', *extra
    ])


def read_summary(out):
    with open(osp.join(out, 'summary.csv')) as f:
        rows = list(csv.DictReader(f))
    with open(osp.join(out, 'summary.json')) as f:
        return rows, json.load(f)


def test_batch_goes_on_past_a_corrupt_slide(slide, tmp_path, capsys):
    """Three slides, the middle one corrupt (a real slide cut short): the
    others are mapped, the failure is reported with its reason, the exit code
    is 1 and the summary lists all three; a rerun skips the finished slides and
    retries the failed one."""
    paths = [str(tmp_path / f'{n}.tiff') for n in ('a', 'b', 'c')]
    for i, p in enumerate(paths):
        write_slide(p, slide_layout(768, 512), MPP, levels=2, seed=i)
    with open(paths[1], 'rb') as f:
        whole = f.read()
    with open(paths[1], 'wb') as f:
        f.write(whole[:len(whole) // 3])
    out = str(tmp_path / 'out')
    code = tool_main(slide['cfg'], slide['ckpt'], paths, out, '--mpp', '0.5')
    log = capsys.readouterr().out
    assert code == 1
    assert re.search(r'b.tiff: failed: \S', log)
    assert '3 slides: 2 done, 0 skipped (done before), 1 failed' in log
    rows, summary = read_summary(out)
    assert [(r['slide'], r['status']) for r in rows] == [(paths[0], 'done'),
                                                         (paths[1], 'failed'),
                                                         (paths[2], 'done')]
    assert re.match(r'cannot read level \d|unsupported or unreadable',
                    rows[1]['reason']), rows[1]['reason']
    assert rows[0]['reason'] == ''
    assert summary['counts'] == dict(done=2, skipped=0, failed=1)
    assert summary['slides'][1]['reason'] == rows[1]['reason']
    for name in ('a', 'c'):
        assert osp.isfile(osp.join(out, name, 'done.json'))
    # resume: the finished slides are skipped, the failed one retried
    write_slide(paths[1], slide_layout(768, 512), MPP, levels=2, seed=1)
    assert tool_main(slide['cfg'], slide['ckpt'], paths, out, '--mpp',
                     '0.5') == 0
    rows, summary = read_summary(out)
    assert [r['status'] for r in rows] == ['skipped', 'done', 'skipped']
    assert summary['counts'] == dict(done=1, skipped=2, failed=0)


def test_disk_full_fails_one_slide_and_loses_nothing(slide, tmp_path,
                                                     monkeypatch):
    """The disk fills while one slide's GeoJSON is written: that slide fails
    with the reason, leaves no half-written file and keeps its saved state; the
    next slide is mapped; a rerun finishes the first without computing a tile
    again."""
    import errno
    real_dump = json.dump

    def dump(obj, f, *args, **kw):
        if '/nospace/' in f.name and obj.get('type') == 'FeatureCollection':
            f.write('{"type": "Feat')  # then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f.name)
        return real_dump(obj, f, *args, **kw)

    paths = [str(tmp_path / f'{n}.tiff') for n in ('nospace', 'fine')]
    for i, p in enumerate(paths):
        write_slide(p, slide_layout(768, 512), MPP, levels=1, seed=i)
    monkeypatch.setattr(json, 'dump', dump)
    out = str(tmp_path / 'out')
    assert tool_main(slide['cfg'], slide['ckpt'], paths, out, '--mpp',
                     '0.5') == 1
    rows, _ = read_summary(out)
    assert [r['status'] for r in rows] == ['failed', 'done']
    assert 'No space left on device' in rows[0]['reason']
    folder = osp.join(out, 'nospace')
    assert not [n for n in os.listdir(folder) if n.startswith('.tmp-')]
    assert not osp.isfile(osp.join(folder, 'done.json'))
    assert not osp.isfile(osp.join(folder, 'annotations.geojson'))
    assert osp.isfile(osp.join(folder, 'work', 'state.npz'))
    monkeypatch.setattr(json, 'dump', real_dump)
    assert tool_main(slide['cfg'], slide['ckpt'], paths, out, '--mpp',
                     '0.5') == 0
    rows, _ = read_summary(out)
    assert [r['status'] for r in rows] == ['done', 'skipped']
    assert int(rows[0]['computed_tiles']) == 0  # resumed after its tiles
    with open(osp.join(folder, 'annotations.geojson')) as f:
        assert json.load(f)['type'] == 'FeatureCollection'


def test_slides_of_one_name_fail_alone(tmp_path):
    """A path given twice is mapped once; two files of one name fail (one
    output folder), the other slides are planned."""
    from mmseg_pbip.apis.wsi import plan_slides
    for d in ('x', 'y'):
        os.makedirs(tmp_path / d)
    a, b, c = (str(tmp_path / p) for p in ('x/s.svs', 'y/s.tiff', 'x/t.svs'))
    plan = plan_slides([a, c, b, c], 'out')
    assert [(p, f) for p, f, _ in plan] == [(a, osp.join('out', 's')),
                                            (c, osp.join('out', 't')),
                                            (b, osp.join('out', 's'))]
    assert [bool(e) for _, _, e in plan] == [True, False, True]
    assert 'same name' in plan[0][2] and b in plan[0][2]


def test_strip_tiffs_are_read_by_chunks(slide, tmp_path, monkeypatch):
    """Non-pyramidal TIFFs in strips: small strips are read strip by strip
    (tiffslide), one uncompressed strip is memory-mapped from the file,
    one compressed strip is decoded once; each gives the written pixels,
    and a strip TIFF maps like a tiled one."""
    import pickle
    import tracemalloc
    res = dict(resolution=(1e4 / MPP, 1e4 / MPP), resolutionunit='CENTIMETER')
    big = tifffile.imread(slide['path'])  # level 0 of the 4096 x 3072 slide
    strips = str(tmp_path / 'strips.tif')
    tifffile.imwrite(
        strips,
        big,
        photometric='rgb',
        compression='zlib',
        rowsperstrip=16,
        **res)
    reader = SlideReader(strips)
    assert reader.backend == 'tiffslide' and reader.mpp == MPP
    tracemalloc.start()
    region = reader.read(1300, 1200, 0, (256, 256))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert np.array_equal(region, big[1200:1456, 1300:1556])
    assert peak < big.nbytes / 4  # only the strips of the region decoded
    reader.close()

    # the same pixels as a tiled TIFF (OpenSlide) and in strips: one map
    ref = str(tmp_path / 'ref.tiff')
    rgb = write_slide(ref, slide_layout(1024, 768), MPP, levels=1)
    small = str(tmp_path / 'small_strips.tif')
    tifffile.imwrite(small, rgb, photometric='rgb', rowsperstrip=8, **res)
    model = colour_model(slide)
    maps = [
        tifffile.imread(infer(model, p, str(tmp_path / n))['mask.tiff'])
        for p, n in ((ref, 'tiled'), (small, 'strips'))
    ]
    assert np.array_equal(maps[0], maps[1])
    assert set(np.unique(maps[1])) == {0, 1, 2, 3, 4}

    # one strip of more than LARGE_CHUNK pixels (lowered for a small file)
    from mmseg_pbip.apis.wsi import array_image
    monkeypatch.setattr(array_image, 'LARGE_CHUNK', 2**18)
    for name, kw in (('raw.tif', {}), ('zlib.tif', dict(compression='zlib'))):
        path = str(tmp_path / name)
        tifffile.imwrite(
            path, rgb, photometric='rgb', rowsperstrip=rgb.shape[0], **kw)
        reader = SlideReader(path, slide_mpp=MPP)
        assert reader.backend == 'tifffile'
        assert reader.mpp_source == 'slide_mpp'
        assert reader.dimensions == (1024, 768)
        expected = np.full((300, 300, 3), 255, np.uint8)  # glass outside
        expected[:, :124] = rgb[400:700, 900:]
        assert np.array_equal(reader.read(900, 400, 0, (300, 300)), expected)
        mapped = reader._array.array
        assert isinstance(mapped, np.memmap)
        if name == 'raw.tif':  # the file itself: nothing decoded
            assert osp.samefile(mapped.filename, path)
            assert len(pickle.dumps(reader)) < 10000  # workers map it too
            clone = pickle.loads(pickle.dumps(reader))
            assert np.array_equal(
                clone.read(10, 20, 0, (30, 40)), rgb[20:60, 10:40])
        reader.close()


def test_slide_mpp_for_plain_images_and_slides_without_metadata(tmp_path):
    """A given --slide-mpp wins over a PNG's dpi, a TIFF's tags over it.

    A PNG's dpi is a print setting, used only without --slide-mpp; a TIFF's
    resolution tags win over --slide-mpp; a TIFF the slide libraries cannot
    read is refused, never decoded whole by Pillow.
    """
    from PIL import Image
    rgb = np.full((64, 80, 3), 200, np.uint8)
    png = str(tmp_path / 'scan.png')
    Image.fromarray(rgb).save(png, dpi=(2400, 2400))  # 10.58 um/px
    assert SlideReader(png).mpp == pytest.approx(25400 / 2400, rel=1e-3)
    reader = SlideReader(png, slide_mpp=0.5)
    assert (reader.mpp, reader.mpp_source) == (0.5, 'slide_mpp')
    tif = str(tmp_path / 'tagged.tif')
    tifffile.imwrite(
        tif,
        rgb,
        photometric='rgb',
        resolution=(1e4 / 0.25, 1e4 / 0.25),
        resolutionunit='CENTIMETER')
    reader = SlideReader(tif, slide_mpp=0.5)
    assert reader.mpp_source == 'metadata'
    assert reader.mpp == pytest.approx(0.25)
    broken = str(tmp_path / 'broken.tif')
    with open(broken, 'wb') as f:
        f.write(b'II*\x00' + b'\x00' * 64)
    with pytest.raises(SlideError, match='unreadable TIFF'):
        SlideReader(broken)


def test_settings_are_checked_once_and_keyed(slide, demo_root, tmp_path,
                                             capsys):
    """A run's settings are refused when made, naming the setting (the tool
    stops before loading the model: exit code 2, nothing mapped); the resume
    key holds what changes the outputs, a CAM model's views included."""
    from types import SimpleNamespace

    from mmseg_pbip.apis.wsi import SlideSettings
    settings = SlideSettings(
        identity=dict(config='a.py', checkpoint='b.pth', tta=False))
    grid = SimpleNamespace(level=1, model_down=2.0)
    key = ('{"batch_size": 8, "checkpoint": "b.pth", "config": "a.py", '
           '"level": 1, "min_area": 0.0, "model_down": 2.0, "out_down": 4, '
           '"overlap": 32, '
           '"slide": "/s/case.tiff", "tile": 224, "tiles": 10, "tta": false, '
           '"window": "gaussian"}')
    assert settings.resume_key('/s/case.tiff', grid, 10) == key
    # workers and progress leave the key as it is
    other = SlideSettings(
        num_workers=0,
        progress=False,
        identity=dict(config='a.py', checkpoint='b.pth', tta=False))
    assert other.resume_key('/s/case.tiff', grid, 10) == key
    # a CAM model's test-time views are part of the identity: a one-view and
    # a six-view map of a slide do not skip each other
    from utils import build_model

    from mmseg_pbip.apis.wsi import SlideMapper
    keys = []
    for views in (dict(), dict(tta_flips=(False, ), tta_intensities=(1.0, ))):
        model = build_model(demo_root, tmp_path, **views)
        mapper = SlideMapper(model, list(CLASSES), PALETTE, 4, settings)
        assert mapper.settings.identity['test_views'] == [
            model.tta_flips, model.tta_intensities
        ]
        keys.append(mapper.settings.resume_key('/s/case.tiff', grid, 10))
    assert keys[0] != keys[1]
    assert settings.resume_key('/s/case.tiff', grid, 10) == key  # unchanged
    # the polygon area changes the GeoJSON: a finished slide is not skipped
    # for a run with another one
    other = SlideSettings(
        min_area=5.,
        identity=dict(config='a.py', checkpoint='b.pth', tta=False))
    assert other.resume_key('/s/case.tiff', grid, 10) != key
    for bad, match in ((dict(overlap=30), 'multiples of the output'),
                       (dict(window='box'), 'window must be one of'),
                       (dict(batch_size=0), 'batch_size must be at least 1'),
                       (dict(mpp=-0.5), 'mpp must be positive')):
        with pytest.raises(ValueError, match=match):
            SlideSettings(**bad)
    out = str(tmp_path / 'out')
    with pytest.raises(SystemExit) as e:
        tool_main(slide['cfg'], slide['ckpt'], [slide['path']], out, '--mpp',
                  '0.5', '--overlap', '30')
    assert e.value.code == 2
    assert 'multiples of the output downsample' in capsys.readouterr().err
    assert not osp.exists(out)
