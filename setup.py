"""Install mmseg-pbip (the ``mmseg_pbip`` package) as an MMSegmentation plugin."""
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


def read_version():
    with open(osp.join(HERE, 'mmseg_pbip', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


setup(
    name='mmseg-pbip',
    version=read_version(),
    description='Weakly supervised semantic segmentation of histopathology '
    '(PBIP, PSCL) as an MMSegmentation 1.x plugin',
    long_description=open(osp.join(HERE, 'README.md')).read()
    if osp.exists(osp.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(include=['mmseg_pbip', 'mmseg_pbip.*']),
    install_requires=[
        r for r in read_requirements('torch') + read_requirements('mmcv') +
        read_requirements('runtime') if not r.startswith(('wheel', 'ninja'))
    ],
    extras_require={
        'tests': read_requirements('tests'),
        'crf': [r for r in read_requirements('optional')
                if r.startswith('pydensecrf')],
        'conch': [r for r in read_requirements('optional')
                  if r.startswith('conch')],
        'optional': read_requirements('optional'),
    },
    license='MIT',
    zip_safe=False,
)
