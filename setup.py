"""Install mmseg-pbip (the ``mmseg_pbip`` package) as an MMSegmentation
plugin."""
import os.path as osp
import re
from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name):
    """Return the requirement lines of ``requirements/<name>.txt``."""
    lines = []
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                lines.append(line)
    return lines


# What `pip install mmseg-pbip` asks for: what PBIP's two stages need, as
# lower bounds (and MMSeg 1.x's own mmcv ceiling). The exact set the tests
# run with is requirements/*.txt, which tools/setup_env.sh installs (every
# extra included).
INSTALL_REQUIRES = [
    'torch>=2.1',
    'torchvision>=0.16',
    'mmcv>=2.0.0,<2.2.0',
    'mmengine>=0.10.0',
    'mmsegmentation>=1.2.0,<2',
    'transformers>=4.40',
    'timm>=1.0',
    'numpy>=1.24,<2',
    'scikit-learn>=1.3',
    'ftfy>=6.1',
    'regex>=2023.0',
    'opencv-python>=4.8',
    'tqdm>=4.60',
]
# The optional parts (`pip install "mmseg-pbip[wsi,crf]"`), one extra each;
# mmseg_pbip/utils/optional.py names the extra when one is missing.
EXTRAS_REQUIRE = {
    # whole-slide inference (tools/infer_wsi.py)
    'wsi': [
        'openslide-python>=1.3',
        'openslide-bin>=4.0',
        'tiffslide>=2.0',
        'tifffile>=2024.1',
        'shapely>=2.0',
    ],
    # PSCL's Mask2Former stage two
    'pscl': ['mmdet>=3.0.0'],
    # DenseCRF refinement of pseudo labels
    'crf': ['pydensecrf2>=1.1'],
    # the CONCH encoder (MahmoodLab's code, CC-BY-NC-ND 4.0)
    'conch': ['conch-fork>=0.1.0'],
}
EXTRAS_REQUIRE['all'] = sorted(set(sum(EXTRAS_REQUIRE.values(), [])))


def read_version():
    with open(osp.join(HERE, 'mmseg_pbip', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


setup(
    name='mmseg-pbip',
    version=read_version(),
    description='Weakly supervised semantic segmentation of histopathology '
    '(PBIP, PSCL) as an MMSegmentation 1.x plugin',
    long_description=open(osp.join(HERE, 'README.md')).read() if osp.exists(
        osp.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(include=['mmseg_pbip', 'mmseg_pbip.*']),
    install_requires=INSTALL_REQUIRES,
    extras_require=dict(EXTRAS_REQUIRE, tests=read_requirements('tests')),
    license='MIT',
    zip_safe=False,
)
