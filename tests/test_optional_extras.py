"""The optional extras: ``import mmseg_pbip`` and PBIP's two stages need none
of them, and each optional part, used without its extra, names the extra.

One subprocess sees an environment where the extras' modules are missing
(``sys.modules[name] = None``: ``import`` raises ``ModuleNotFoundError`` and
``importlib.util.find_spec`` answers None, as for a package never installed)
and reports what each step did.
"""
import json
import os
import os.path as osp
import runpy
import setuptools
import subprocess
import sys
from unittest import mock

import pytest
from utils import PBIP_DEMO, REPO, STAGE2_DEMO

from mmseg_pbip.utils.optional import EXTRAS, extra_of, import_optional

HIDDEN = ('openslide', 'tiffslide', 'shapely', 'tifffile', 'mmdet',
          'pydensecrf', 'pydensecrf2', 'open_clip', 'conch')
M2F_DEMO = osp.join(
    REPO, 'configs', 'pscl', 'mask2former_swin-mini_1xb8-300'
    'iters_demo-pseudo-224x224.py')

CHILD = '''
import json, os, sys, tempfile
for name in {hidden!r}:
    sys.modules[name] = None  # not installed
results = {{}}


def attempt(key, step):
    try:
        results[key] = 'ok: ' + str(step())
    except Exception as e:
        results[key] = f'{{type(e).__name__}}: {{e}}'
        cause = missing_extra_in(e)  # in MMEngine's custom_imports errors
        if cause is not None and cause is not e:
            results[key + '_cause'] = f'{{type(cause).__name__}}: {{cause}}'


import mmseg_pbip
from mmseg_pbip.utils.optional import missing_extra_in
results['package'] = mmseg_pbip.__file__
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
init_default_scope('mmseg')


def build(path, **model):
    cfg = Config.fromfile(path)  # imports its custom_imports
    cfg.model.update(model)
    return type(MODELS.build(cfg.model)).__name__


attempt('stage_one', lambda: build({pbip!r}))
attempt('stage_two', lambda: build({stage2!r}))
attempt('crf', lambda: build({pbip!r}, crf=dict()))
attempt('mask2former', lambda: build({m2f!r}))
from mmseg_pbip.apis.wsi import SlideReader, infer_slide
slide = os.path.join(tempfile.mkdtemp(), 'case.svs')
open(slide, 'wb').close()
attempt('slide_reader', lambda: SlideReader(slide))
attempt('infer_slide', lambda: infer_slide(None, slide, '', [], [], 0))
sys.path.append(os.path.join({repo!r}, 'tools'))
from _tool_config import load_tool_config
attempt('mask2former_tool', lambda: load_tool_config({m2f!r}))
import contextlib, io, infer_wsi
with contextlib.redirect_stderr(io.StringIO()) as err:
    try:
        infer_wsi.main([{pbip!r}, 'none.pth', slide, '--out-dir', 'none'])
    except SystemExit as e:
        results['infer_wsi'] = f'exit {{e.code}}: {{err.getvalue()}}'
from mmseg_pbip.models.encoders import FoundationModelEncoder
attempt('conch', lambda: FoundationModelEncoder('conch',
                                                allow_random_init=True))
print('RESULTS ' + json.dumps(results))
'''


@pytest.fixture(scope='module')
def without_extras():
    """What each step did in a process without any extra."""
    code = CHILD.format(
        hidden=HIDDEN,
        repo=REPO,
        pbip=PBIP_DEMO,
        stage2=STAGE2_DEMO,
        m2f=M2F_DEMO)
    env = dict(
        os.environ,
        PYTHONWARNINGS='ignore',
        PYTHONPATH=os.pathsep.join([REPO] + [
            p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p
        ]))
    proc = subprocess.run([sys.executable, '-c', code],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULTS ')]
    assert line, out[-4000:]
    return json.loads(line[-1][len('RESULTS '):])


def test_package_and_pbip_need_no_extra(without_extras):
    """``import mmseg_pbip`` (this checkout's) and building PBIP's stage-one
    and stage-two models from their configs (``custom_imports`` included) work
    without any extra."""
    assert without_extras['package'] == osp.join(REPO, 'mmseg_pbip',
                                                 '__init__.py')
    assert without_extras['stage_one'] == 'ok: PBIPSegmentor'
    assert without_extras['stage_two'] == 'ok: EncoderDecoder'


@pytest.mark.parametrize('step, extra, package', [
    ('slide_reader', 'wsi', 'openslide-python'),
    ('infer_slide', 'wsi', 'openslide-python'),
    ('crf', 'crf', 'pydensecrf2'),
    ('mask2former_tool', 'pscl', 'mmdet'),
    ('mask2former_cause', 'pscl', 'mmdet'),
    ('conch', 'conch', 'conch-fork'),
])
def test_missing_extra_is_named_where_used(without_extras, step, extra,
                                           package):
    """Each optional part, used without its extra, raises an ImportError that
    names the package and the extra to install: opening a slide, mapping
    one, building a model with the CRF or CONCH, loading a Mask2Former
    config (the tools' loader raises it as it is; with ``Config.fromfile``
    it is in the chain of MMEngine's ``custom_imports`` error, which a
    traceback prints)."""
    result = without_extras[step]
    assert result.startswith('MissingExtraError: '), result
    assert f"'{package}'" in result, result
    assert f'pip install "mmseg-pbip[{extra}]"' in result, result
    if step == 'mask2former_cause':
        assert without_extras['mask2former'].startswith('ImportError: ')


def test_slide_tool_stops_before_loading_the_model(without_extras):
    """tools/infer_wsi.py without the ``wsi`` extra: exit code 2 (the run could
    not start), the extra named."""
    result = without_extras['infer_wsi']
    assert result.startswith('exit 2: Whole-slide inference'), result
    assert 'pip install "mmseg-pbip[wsi]"' in result, result


def test_setup_extras_match_the_helper_and_requirements():
    """setup.py has one extra per optional part (and ``all``, their union),
    each with a pinned requirements file that tools/setup_env.sh installs."""
    captured = {}
    with mock.patch.object(setuptools, 'setup',
                           lambda **kw: captured.update(kw)):
        runpy.run_path(osp.join(REPO, 'setup.py'), run_name='__main__')
    extras = captured['extras_require']
    assert set(extras) == set(EXTRAS) | {'all', 'tests'}
    assert sorted(extras['all']) == sorted(
        {r
         for e in EXTRAS
         for r in extras[e]})
    install = ' '.join(captured['install_requires'])
    with open(osp.join(REPO, 'tools', 'setup_env.sh')) as f:
        setup_env = f.read()
    for extra in EXTRAS:
        assert f'requirements/{extra}.txt' in setup_env
        with open(osp.join(REPO, 'requirements', f'{extra}.txt')) as f:
            pins = [
                ln.split('==')[0].split('>=')[0].strip() for ln in f
                if ln.strip() and not ln.startswith('#')
            ]
        assert pins == [r.split('>=')[0] for r in extras[extra]], extra
        for name in pins:  # only in its extra
            assert name not in install, name


def test_import_optional_names_the_extra(monkeypatch):
    """The helper returns the module, or raises naming the extra; a module of
    no extra is a programming error."""
    assert import_optional('tifffile').__name__ == 'tifffile'
    monkeypatch.setitem(sys.modules, 'shapely', None)
    with pytest.raises(ImportError, match=r'mmseg-pbip\[wsi\]'):
        import_optional('shapely.geometry')
    assert extra_of('mmdet.models') == 'pscl'
    with pytest.raises(KeyError):
        extra_of('numpy')
