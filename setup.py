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


# What `pip install mmseg-pbip` asks for: lower bounds (and MMSeg 1.x's own
# mmcv ceiling). The exact set the tests run with is requirements/*.txt,
# which tools/setup_env.sh installs.
INSTALL_REQUIRES = [
    'torch>=2.1',
    'torchvision>=0.16',
    'mmcv>=2.0.0,<2.2.0',
    'mmengine>=0.10.0',
    'mmsegmentation>=1.2.0,<2',
    'mmdet>=3.0.0',  # Mask2Former (PSCL stage two)
    'transformers>=4.40',
    'timm>=1.0',
    'numpy>=1.24,<2',
    'scikit-learn>=1.3',
    'ftfy>=6.1',
    'regex>=2023.0',
    'opencv-python>=4.8',
    'tqdm>=4.60',
    'openslide-python>=1.3',
    'openslide-bin>=4.0',
    'tiffslide>=2.0',
    'tifffile>=2024.1',
    'shapely>=2.0',
]


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
    extras_require={
        'tests':
        read_requirements('tests'),
        'crf': [
            r for r in read_requirements('optional')
            if r.startswith('pydensecrf')
        ],
        'conch':
        [r for r in read_requirements('optional') if r.startswith('conch')],
        'optional':
        read_requirements('optional'),
    },
    license='MIT',
    zip_safe=False,
)
