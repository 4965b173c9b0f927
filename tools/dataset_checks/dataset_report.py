"""What :func:`check_config_datasets` found, as text or JSON."""
from dataclasses import asdict, dataclass, field
from typing import List


@dataclass
class Finding:
    """One problem.

    Attributes:
        level (str): ``'error'`` (training or evaluation would fail or
            learn from wrong labels) or ``'warning'``.
        split (str): Split name(s), e.g. ``'train'`` or ``'val, test'``.
        path (str): The file or folder concerned.
        message (str): What is wrong.
    """
    level: str
    split: str
    path: str
    message: str

    def __str__(self) -> str:
        return f'{self.level.upper():7s} [{self.split}] {self.path}: ' \
               f'{self.message}'


@dataclass
class DatasetReport:
    """Findings and per-split summaries of one config's datasets."""
    config: str
    findings: List[Finding] = field(default_factory=list)
    splits: List[dict] = field(default_factory=list)

    def add(self, level: str, split: str, path: str, message: str) -> None:
        """Record a finding."""
        self.findings.append(Finding(level, split, path, message))

    @property
    def errors(self) -> List[Finding]:
        """List[Finding]: Findings that would break training."""
        return [f for f in self.findings if f.level == 'error']

    @property
    def warnings(self) -> List[Finding]:
        """List[Finding]: Findings worth a look."""
        return [f for f in self.findings if f.level == 'warning']

    def exit_code(self, strict: bool = False) -> int:
        """1 when an error (or, with ``strict``, a warning) was found."""
        return int(bool(self.errors or (strict and self.warnings)))

    def to_dict(self) -> dict:
        """JSON-friendly form."""
        return dict(
            config=self.config,
            errors=len(self.errors),
            warnings=len(self.warnings),
            findings=[asdict(f) for f in self.findings],
            splits=self.splits)

    def format_text(self, max_per_message: int = 0) -> str:
        """The report as printed by ``tools/check_dataset.py``.

        Args:
            max_per_message (int): Show at most this many files per
                message kind and level (0: all).
        """
        lines = []
        shown = {}

        def order(f):
            return f.level != 'error', f.split, f.path

        for f in sorted(self.findings, key=order):
            kind = (f.level, ' '.join(f.message.split()[:2]))
            shown[kind] = shown.get(kind, 0) + 1
            if max_per_message and shown[kind] > max_per_message:
                continue
            lines.append(str(f))
        hidden = sum(max(0, n - max_per_message) for n in shown.values()) \
            if max_per_message else 0
        if hidden:
            lines.append(f'... {hidden} more (see --out JSON for all)')
        for s in self.splits:
            lines.append('')
            lines.append(f"[{s['split']}] {s['img_dir']}: {s['images']} "
                         f"images, {s['masks']} masks, labels from "
                         f"{s['labels_from']}")
            width = max(len(c) for c in s['classes'])
            header = f"  {'class':{width}s}  patches"
            if 'single_label' in s:
                header += '  single-label  for the image bank'
            if 'pixel_fraction' in s:
                header += '  pixel share'
            lines.append(header)
            for i, c in enumerate(s['classes']):
                row = f"  {c:{width}s}  {s['patches_per_class'][i]:7d}"
                if 'single_label' in s:
                    row += f"  {s['single_label'][i]:12d}"
                    row += f"  {s['bank_usable'][i]:17d}"
                if 'pixel_fraction' in s:
                    row += f"  {100 * s['pixel_fraction'][i]:10.1f}%"
                lines.append(row)
        lines.append('')
        lines.append(f'{self.config}: {len(self.errors)} error(s), '
                     f'{len(self.warnings)} warning(s)')
        return '\n'.join(lines)
