"""Which combinations of PBIP's switches are meaningful.

The released code and the paper differ in about twenty switches spread over
:class:`PBIPSegmentor`, :class:`PrototypeSimHead`, :class:`MultiStageClsLoss`,
:class:`ImgMatchLoss`, the image encoder and :class:`ImageBankHook`. Each
:class:`Rule` reads a few of them (resolved values, named by their config
keys: ``model.`` left out, ``ImageBankHook.*`` the hook's) and accepts only
the combinations that compute something meaningful; docs/reproduction.md
("Switches that go together") gives the table and the reasons.
:func:`check_switches` raises one ValueError listing every violated rule.

Switches that appear in no rule combine freely (e.g. ``head``'s
``normalize_prototypes``, ``logit_scale`` and ``learnable_scale``, or
``train_merge`` with ``test_merge``).
"""
from typing import Callable, Dict, Iterable, NamedTuple, Optional, Sequence

MERGES = ('mean', 'max', 'hard_max')
SPACES = ('inputs', 'rgb01')
# ImgMatchLoss attributes the rules read, as ``match_loss.<name>``
MATCH_LOSS_KEYS = ('contrast', 'cam_scaling', 'minmax_before_mask',
                   'image_space', 'threshold', 'temperature', 'fg_weight',
                   'bg_weight', 'cam_reg_weight')


class Rule(NamedTuple):
    """One rule: ``ok(*values of keys)`` must hold.

    Attributes:
        keys (tuple[str]): The config keys the rule reads. A rule is skipped
            when one of them is absent (e.g. ``match_loss.*`` without a
            match loss).
        allowed (str): The meaningful combinations, in words (quoted by the
            error message).
        ok (Callable[..., bool]): Called with the keys' values.
    """
    keys: tuple
    allowed: str
    ok: Callable[..., bool]


def positions(stages: Sequence[int], num: int) -> Optional[list]:
    """Head positions of ``stages`` (negative: from the end), or None when one
    is outside ``-num ..

    num - 1``.
    """
    if any(not -num <= s < num for s in stages):
        return None
    return [s % num for s in stages]


def distinct_positions(stages: Sequence[int], head_stages: Sequence) -> bool:
    """One or more distinct, valid positions in ``head.stages``."""
    pos = positions(stages, len(head_stages))
    return bool(pos) and len(set(pos)) == len(pos)


def per_stage(weights: Sequence[float], head_stages: Sequence) -> bool:
    """One weight >= 0 per head stage."""
    return len(weights) == len(head_stages) and min(weights) >= 0


def fused_stages_trained(fusion: Sequence[float], cls_weights: Sequence[float],
                         match_loss: Optional[str],
                         match_stages: Sequence[int]) -> bool:
    """Every stage with a fusion weight > 0 has a classification weight > 0 or
    is read by the match loss (malformed lengths are other rules')."""
    if len(fusion) != len(cls_weights):
        return True
    matched = positions(match_stages, len(fusion)) if match_loss else []
    return all(c > 0 or i in (matched or [])
               for i, (f, c) in enumerate(zip(fusion, cls_weights)) if f > 0)


def pairs_selectable(match_loss: Optional[str], match_cams: str,
                     train_merge: str) -> bool:
    """A subclass can beat its class's merged score (``'subclass'`` pairs),
    i.e. not under ``'hard_max'``; always true for ``'class'`` or without a
    match loss."""
    return (match_loss is None or match_cams != 'subclass'
            or train_merge != 'hard_max')


MODEL_RULES = (
    Rule(('head.prototype_dim', 'image_encoder.out_channels'),
         'equal: the prototypes are the encoder\'s features '
         '(head.prototype_dim=None takes the encoder\'s size)',
         lambda dim, out: dim == out),
    Rule(('match_cams', ), "'subclass' (released) or 'class' (paper)",
         lambda cams: cams in ('subclass', 'class')),
    Rule(('train_merge', 'test_merge'),
         "each 'mean', 'max' (soft maximum) or 'hard_max'",
         lambda train, test: train in MERGES and test in MERGES),
    Rule(('cam_fusion_weights', 'head.stages'),
         'one weight >= 0 per head stage, at least one > 0',
         lambda w, stages: per_stage(w, stages) and max(w) > 0),
    Rule(('cls_loss.stage_weights', 'head.stages'),
         'one weight >= 0 per head stage', per_stage),
    Rule(('match_stages', 'head.stages'),
         'one or more distinct positions in head.stages (-n .. n-1)',
         distinct_positions),
    Rule(('match_cams', 'match_stages'),
         "'subclass' with one stage (released: (-1, )); 'class' with one or "
         'more (paper: (0, 1, 2))',
         lambda cams, stages: cams != 'subclass' or len(stages) == 1),
    Rule(('match_loss', 'match_cams', 'train_merge'),
         "'subclass' with train_merge 'mean' (released) or 'max'; 'class' "
         "with any; any without a match loss ('hard_max' makes the class "
         'score the maximum of its subclass scores: no subclass beats it, so '
         'no pair would ever be selected)', pairs_selectable),
    Rule(('cam_fusion_weights', 'cls_loss.stage_weights', 'match_loss',
          'match_stages'),
         'every stage fused at test is trained: a classification weight > 0 '
         'or a stage the match loss reads (otherwise its maps stay random)',
         fused_stages_trained),
    Rule(('argmax_present_only', 'mask_cams_by_label'),
         'argmax_present_only=True only with mask_cams_by_label=True '
         '(without label masking there is no label to restrict it to)',
         lambda present, masked: not present or masked),
    Rule(('match_loss.contrast', 'match_cams'),
         "'infonce' with 'subclass' (released) or 'class' (the class's K "
         "prototypes are the positives); 'paper' with 'class' only (eq. 9-12 "
         "contrast a class's K prototypes; 'subclass' would make the "
         'positives one prototype, an identity ownership)',
         lambda contrast, cams: contrast != 'paper' or cams == 'class'),
    Rule(('match_loss.cam_scaling', 'match_loss.minmax_before_mask'),
         "'raw' with minmax_before_mask=True only (released: the stretch "
         "brings M * X back to [0, 1]); 'relu_max' with either (M in [0, 1], "
         'as eq. 5 needs)',
         lambda scaling, minmax: scaling != 'raw' or minmax),
    Rule(('match_loss.image_space', 'image_encoder.normalize'),
         "'inputs' (already normalised by the data preprocessor) with "
         "normalize=False only (released); 'rgb01' with either",
         lambda space, norm: space != 'inputs' or not norm),
    Rule(('match_loss.threshold', ),
         '0 < threshold <= 1 (a fraction of the maximum, eq. 4)',
         lambda t: 0 < t <= 1),
    Rule(('match_loss.temperature', ), 'temperature > 0', lambda t: t > 0),
    Rule(('match_loss.fg_weight', 'match_loss.bg_weight',
          'match_loss.cam_reg_weight'), 'each >= 0', lambda *w: min(w) >= 0),
)

BANK_RULES = (
    Rule(('ImageBankHook.input_space', ),
         "'inputs' (released) or 'rgb01' (paper)", lambda s: s in SPACES),
    Rule(('ImageBankHook.kmeans', ), "'spherical' (released) or 'sklearn'",
         lambda k: k in ('spherical', 'sklearn')),
    Rule(('ImageBankHook.prototype_rule', 'ImageBankHook.n_per_cluster'),
         "'centroid' (released), or 'nearest_mean' (paper) with "
         'n_per_cluster >= 1', lambda rule, n: rule == 'centroid' or
         (rule == 'nearest_mean' and n >= 1)),
    Rule(('ImageBankHook.k_per_class', ), 'k_per_class >= 1',
         lambda k: k >= 1),
    Rule(('ImageBankHook.input_space', 'image_encoder.normalize'),
         "'inputs' (already normalised by the data preprocessor) with "
         "normalize=False only (released); 'rgb01' with either",
         lambda space, norm: space != 'inputs' or not norm),
    Rule(('ImageBankHook.input_space', 'match_loss.image_space'),
         'equal: the prototypes and the FG/BG features must come from '
         'images in the same space', lambda bank, loss: bank == loss),
    Rule(
        ('ImageBankHook.input_space', 'ImageBankHook.stretch',
         'match_loss.minmax_before_mask'),
        "with 'inputs', stretch == minmax_before_mask (both images in "
        "[0, 1] as released, or both in the network's input range); with "
        "'rgb01' any (every image in [0, 1])",
        lambda space, stretch, minmax: space != 'inputs' or stretch == minmax),
)


def holds(rule: Rule, values: Dict[str, object]) -> bool:
    """Whether ``rule`` holds (True when it reads an absent key; False when its
    values cannot even be compared)."""
    if any(k not in values for k in rule.keys):
        return True
    try:
        return bool(rule.ok(*(values[k] for k in rule.keys)))
    except (TypeError, ValueError):
        return False


def check_switches(values: Dict[str, object], rules: Iterable[Rule],
                   owner: str) -> None:
    """Raise one ValueError naming every violated rule's keys, values and
    allowed combinations.

    Args:
        values (dict): Resolved switch values by config key.
        rules (Iterable[Rule]): E.g. :data:`MODEL_RULES`.
        owner (str): Who checks, first word of the message.
    """
    broken = [r for r in rules if not holds(r, values)]
    if not broken:
        return
    lines = [
        ', '.join(f'{k}={values[k]!r}'
                  for k in r.keys) + f' -- allowed: {r.allowed}'
        for r in broken
    ]
    raise ValueError(
        f'{owner}: {len(broken)} switch combination(s) that are not '
        'meaningful (docs/reproduction.md, "Switches that go together"):\n'
        '  - ' + '\n  - '.join(lines))


def attributes(obj, prefix: str, names: Sequence[str]) -> dict:
    """``{prefix + name: obj.name}`` for the names ``obj`` has (none when
    ``obj`` is None)."""
    if obj is None:
        return {}
    return {prefix + n: getattr(obj, n) for n in names if hasattr(obj, n)}


def pbip_switches(model) -> Dict[str, object]:
    """Resolved switch values of a :class:`PBIPSegmentor` (built components),
    by config key."""
    loss = model.match_loss
    values = dict(
        match_loss=None if loss is None else type(loss).__name__,
        match_cams=model.match_cams,
        match_stages=tuple(model.match_stages),
        train_merge=model.train_merge,
        test_merge=model.test_merge,
        cam_fusion_weights=tuple(model.cam_fusion_weights),
        mask_cams_by_label=model.mask_cams_by_label,
        argmax_present_only=model.argmax_present_only)
    values.update(attributes(model.head, 'head.', ('stages', 'prototype_dim')))
    values.update(
        attributes(model.image_encoder, 'image_encoder.',
                   ('out_channels', 'normalize')))
    values.update(attributes(model.cls_loss, 'cls_loss.', ('stage_weights', )))
    values.update(attributes(loss, 'match_loss.', MATCH_LOSS_KEYS))
    return values


def bank_switches(settings: dict, encoder, match_loss=None) -> dict:
    """Resolved switch values of an :class:`ImageBankHook` (its ``settings``)
    and of the model parts it must agree with, by config key."""
    values = {f'ImageBankHook.{k}': v for k, v in settings.items()}
    values.update(attributes(encoder, 'image_encoder.', ('normalize', )))
    values.update(attributes(match_loss, 'match_loss.', MATCH_LOSS_KEYS))
    return values
