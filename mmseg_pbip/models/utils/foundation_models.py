"""Pathology foundation models: architectures, input spaces, weight files.

One table (:data:`FOUNDATION_MODELS`) says, for each supported model, which
library builds it and with which exact architecture arguments (those its
authors publish: UNI's ``get_encoder``, the UNI2-h card's ``timm_kwargs``,
Virchow2's ``config.json`` and card, Bioptimus' release parameters, Owkin's
``config.json`` files, MahmoodLab's CONCH code), its input size,
normalisation and resize, how the authors pool an image embedding, and what
its licence / access terms are. The prototype encoder
(:class:`FoundationModelEncoder`), the dense backbone
(:class:`FoundationViTBackbone`) and ``tools/model_converters/
inspect_foundation_model.py`` all read it, so the three agree.

For the transformers models (Phikon, Phikon-v2) the ``config.json`` and
``preprocessor_config.json`` of the checkpoint folder, when there are, are
authoritative: the model and the encoder's input transform follow them and
every value that differs from the table is logged as a warning (the table
holds the published values, the default without a folder).

Weights are always local: a file (``pytorch_model.bin``, ``*.pth``,
``model.safetensors``) or a folder holding one (a Hugging Face folder for the
transformers models). Nothing is fetched from the hub. ``.bin`` / ``.pth``
files load with ``torch.load(weights_only=True)``.
"""
import copy
import json
import logging
import os.path as osp
import warnings
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log

from ...utils.optional import import_optional
from ...utils.safe_loading import read_state_dict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
# Bioptimus' statistics for H-optimus-0 / H-optimus-1 (model card).
HOPTIMUS_MEAN = (0.707223, 0.578729, 0.703617)
HOPTIMUS_STD = (0.211883, 0.230117, 0.177517)

# Layers that timm takes as classes, named in configs by these strings.
TIMM_LAYERS = {
    'mlp_layer': {
        'swiglu_packed': ('timm.layers', 'SwiGLUPacked')
    },
    'act_layer': {
        'silu': ('torch.nn', 'SiLU')
    },
}

FOUNDATION_MODELS: Dict[str, dict] = {
    'uni':
    dict(
        library='timm',
        timm_name='vit_large_patch16_224',
        timm_kwargs=dict(
            img_size=224,
            patch_size=16,
            init_values=1e-5,
            num_classes=0,
            dynamic_img_size=True),
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        # get_encoder: Resize(224) (bilinear; PIL antialiases) +
        # CenterCrop(224); the hub's pretrained_cfg: bilinear, crop_pct 1
        resize=dict(
            interpolation='bilinear', antialias=True, center_crop=True),
        pooling='cls',
        feature_dim=1024,
        embed_dim=1024,
        depth=24,
        hub_id='MahmoodLab/UNI',
        config='configs/pbip/pbip_mit-b1_uni_1xb10-8e_bcss-wsss-224x224.py',
        files='pytorch_model.bin',
        licence='CC-BY-NC-ND 4.0; gated (accept terms on Hugging Face)'),
    'uni2-h':
    dict(
        library='timm',
        timm_name='vit_giant_patch14_224',
        timm_kwargs=dict(
            img_size=224,
            patch_size=14,
            depth=24,
            num_heads=24,
            init_values=1e-5,
            embed_dim=1536,
            mlp_ratio=2.66667 * 2,
            num_classes=0,
            no_embed_class=True,
            mlp_layer='swiglu_packed',
            act_layer='silu',
            reg_tokens=8,
            dynamic_img_size=True),
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        # get_encoder('uni2-h'): Resize(224) (bilinear, antialiased) +
        # CenterCrop(224)
        resize=dict(
            interpolation='bilinear', antialias=True, center_crop=True),
        pooling='cls',
        feature_dim=1536,
        embed_dim=1536,
        depth=24,
        hub_id='MahmoodLab/UNI2-h',
        config='configs/pbip/'
        'pbip_mit-b1_uni2-h_1xb10-8e_bcss-wsss-224x224.py',
        files='pytorch_model.bin',
        licence='CC-BY-NC-ND 4.0; gated (accept terms on Hugging Face)'),
    'virchow2':
    dict(
        library='timm',
        timm_name='vit_huge_patch14_224',
        timm_kwargs=dict(
            img_size=224,
            init_values=1e-5,
            num_classes=0,
            mlp_ratio=5.3375,
            global_pool='',
            dynamic_img_size=True,
            reg_tokens=4,
            mlp_layer='swiglu_packed',
            act_layer='silu'),
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        # config.json pretrained_cfg: bicubic, crop_pct 1.0, crop_mode center
        resize=dict(interpolation='bicubic', antialias=True, center_crop=True),
        pooling='cls+mean_patch',
        feature_dim=2560,
        embed_dim=1280,
        depth=32,
        hub_id='paige-ai/Virchow2',
        config='configs/pbip/'
        'pbip_mit-b1_virchow2_1xb10-8e_bcss-wsss-224x224.py',
        files='pytorch_model.bin or model.safetensors',
        licence='CC-BY-NC-ND 4.0; gated (accept terms on Hugging Face)'),
    'h-optimus-0':
    dict(
        library='timm',
        timm_name='vit_giant_patch14_reg4_dinov2',
        timm_kwargs=dict(
            img_size=224,
            init_values=1e-5,
            num_classes=0,
            global_pool='token',
            dynamic_img_size=False),
        input_size=224,
        mean=HOPTIMUS_MEAN,
        std=HOPTIMUS_STD,
        # The card feeds 224 x 224 tiles (0.5 um/px) without resizing
        # (ToTensor + Normalize); any other size is resized as timm's
        # default (bicubic, antialiased, centre crop), outside the card.
        resize=dict(interpolation='bicubic', antialias=True, center_crop=True),
        pooling='cls',
        feature_dim=1536,
        embed_dim=1536,
        depth=40,
        hub_id='bioptimus/H-optimus-0',
        config='configs/pbip/'
        'pbip_mit-b1_h-optimus-0_1xb10-8e_bcss-wsss-224x224.py',
        files='pytorch_model.bin or model.safetensors',
        licence='Apache 2.0; open'),
    'phikon':
    dict(
        library='transformers',
        hf_class='ViTModel',
        hf_config=dict(
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
            image_size=224,
            patch_size=16,
            qkv_bias=True,
            hidden_act='gelu',
            # Owkin's config.json since its fix "to match timm" (the iBOT
            # implementation); transformers' ViTConfig default is 1e-12
            layer_norm_eps=1e-6),
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        # preprocessor_config.json: ViTImageProcessor, size 224 x 224,
        # default resample (bilinear, antialiased), no crop
        resize=dict(
            interpolation='bilinear', antialias=True, center_crop=False),
        pooling='cls',
        feature_dim=768,
        embed_dim=768,
        depth=12,
        hub_id='owkin/phikon',
        config='configs/pbip/'
        'pbip_mit-b1_phikon_1xb10-8e_bcss-wsss-224x224.py',
        files='Hugging Face folder: config.json + pytorch_model.bin or '
        'model.safetensors',
        licence='Owkin non-commercial licence; open download'),
    'phikon-v2':
    dict(
        library='transformers',
        hf_class='Dinov2Model',
        hf_config=dict(
            hidden_size=1024,
            num_hidden_layers=24,
            num_attention_heads=16,
            mlp_ratio=4,
            image_size=224,
            patch_size=16,
            layerscale_value=1e-5,
            layer_norm_eps=1e-6,
            qkv_bias=True,
            hidden_act='gelu',
            use_swiglu_ffn=False),
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        # preprocessor_config.json: BitImageProcessor, shortest edge 224
        # (bicubic, antialiased), centre crop 224 (offsets rounded down)
        resize=dict(
            interpolation='bicubic',
            antialias=True,
            center_crop=True,
            crop_rounding='floor'),
        pooling='cls',
        feature_dim=1024,
        embed_dim=1024,
        depth=24,
        hub_id='owkin/phikon-v2',
        config='configs/pbip/'
        'pbip_mit-b1_phikon-v2_1xb10-8e_bcss-wsss-224x224.py',
        files='Hugging Face folder: config.json + model.safetensors',
        licence='Owkin non-commercial licence; open download'),
    'conch':
    dict(
        library='conch',
        conch_config='conch_ViT-B-16',
        input_size=448,
        mean=OPENAI_MEAN,
        std=OPENAI_STD,
        # conch.open_clip_custom.image_transform: Resize(448, bicubic) +
        # CenterCrop(448), on every 224 px patch
        resize=dict(interpolation='bicubic', antialias=True, center_crop=True),
        pooling='attn_pool',
        feature_dim=512,
        embed_dim=768,
        depth=12,
        hub_id='MahmoodLab/CONCH',
        config='configs/pbip/'
        'pbip_mit-b1_conch_1xb10-8e_bcss-wsss-224x224.py',
        files='pytorch_model.bin (the whole CoCa model; the vision tower '
        'visual.* is used)',
        licence='CC-BY-NC-ND 4.0; gated (accept terms on Hugging Face); '
        'code from the conch-fork package (same terms)'),
}

# H-optimus-1: the H-optimus-0 architecture and statistics, other weights.
FOUNDATION_MODELS['h-optimus-1'] = dict(
    FOUNDATION_MODELS['h-optimus-0'],
    hub_id='bioptimus/H-optimus-1',
    config='configs/pbip/'
    'pbip_mit-b1_h-optimus-1_1xb10-8e_bcss-wsss-224x224.py',
    licence='CC-BY-NC-ND 4.0; gated (accept terms on Hugging Face)')


def foundation_spec(arch: str) -> dict:
    """A copy of the table row of ``arch``.

    Raises:
        KeyError: naming the known models, for an unknown ``arch``.
    """
    if arch not in FOUNDATION_MODELS:
        raise KeyError(f'unknown foundation model {arch!r}; known: '
                       f'{sorted(FOUNDATION_MODELS)}')
    spec = copy.deepcopy(FOUNDATION_MODELS[arch])
    spec['arch'] = arch
    return spec


def _resolve_timm_layers(kwargs: dict) -> dict:
    """Replace layer names (``'swiglu_packed'``) with timm / torch classes."""
    import importlib
    out = dict(kwargs)
    for key, names in TIMM_LAYERS.items():
        if isinstance(out.get(key), str):
            if out[key] not in names:
                raise ValueError(f'{key}={out[key]!r}: known {sorted(names)}')
            module, attr = names[out[key]]
            out[key] = getattr(importlib.import_module(module), attr)
    return out


def _conch_vision_config(overrides: Optional[dict]) -> dict:
    """CONCH's CoCa config (embed dims + vision_cfg) from conch-fork."""
    # its import of timm.models.layers warns of a rename that users of
    # this plugin cannot act on
    with warnings.catch_warnings():
        warnings.filterwarnings(
            'ignore',
            message='Importing from timm.models.layers',
            category=FutureWarning)
        # the 'conch' extra: conch-fork, MahmoodLab's CONCH code on PyPI
        # (CC-BY-NC-ND 4.0)
        open_clip_custom = import_optional('conch.open_clip_custom')
    path = osp.join(
        osp.dirname(open_clip_custom.__file__), 'model_configs',
        'conch_ViT-B-16.json')
    with open(path) as f:
        cfg = json.load(f)
    vision = dict(cfg['vision_cfg'])
    vision.update(overrides or {})
    return dict(
        embed_dim=cfg['embed_dim'],
        embed_dim_caption=cfg['embed_dim_caption'],
        vision_cfg=vision)


# model_type of the config.json that each transformers class reads
HF_MODEL_TYPES = {'ViTModel': 'vit', 'Dinov2Model': 'dinov2'}


def checkpoint_folder(checkpoint: Optional[str]) -> Optional[str]:
    """The folder of a weight file, or the folder given."""
    if not checkpoint:
        return None
    return checkpoint if osp.isdir(checkpoint) else osp.dirname(checkpoint)


def read_hf_config(spec: dict, checkpoint: Optional[str]) -> Optional[dict]:
    """The ``config.json`` next to a transformers checkpoint, if any.

    Args:
        spec (dict): The model's table row.
        checkpoint (str, optional): The weight file or its folder.

    Returns:
        dict | None: The file's contents; None for timm / CONCH models and
        when the folder has no ``config.json``.

    Raises:
        ValueError: When the file describes another kind of model
            (``model_type``), e.g. a Phikon-v2 folder given as Phikon.
    """
    folder = checkpoint_folder(checkpoint)
    if spec['library'] != 'transformers' or not folder:
        return None
    path = osp.join(folder, 'config.json')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        config = json.load(f)
    expected = HF_MODEL_TYPES[spec['hf_class']]
    if config.get('model_type', expected) != expected:
        raise ValueError(
            f'{path}: model_type {config["model_type"]!r}, but '
            f'{spec["arch"]} ({spec["hub_id"]}) is a {spec["hf_class"]} '
            f'(model_type {expected!r})')
    return config


def hf_config_differences(spec: dict, config: dict) -> List[str]:
    """Values of a ``config.json`` that differ from the table's.

    Returns:
        list[str]: ``'key: config.json X vs table Y'`` for each table key
        the file sets otherwise (keys it does not set take transformers'
        defaults, compared too).
    """
    defaults = _hf_class(spec).config_class().to_dict()
    diffs = []
    for key, value in spec['hf_config'].items():
        found = config.get(key, defaults.get(key))
        if found != value:
            diffs.append(f'{key}: config.json {found!r} vs table {value!r}')
    return diffs


# image processors of the transformers models (AutoImageProcessor's choice
# when preprocessor_config.json names none) and PIL's resampling codes
HF_PROCESSORS = {
    'ViTModel': 'ViTImageProcessor',
    'Dinov2Model': 'BitImageProcessor'
}
PIL_RESAMPLE = {2: 'bilinear', 3: 'bicubic'}


def read_hf_transform(spec: dict, checkpoint: Optional[str]) -> Optional[dict]:
    """The input transform of the folder's ``preprocessor_config.json``.

    The file is read by the transformers image processor that the card's
    ``AutoImageProcessor.from_pretrained`` picks, so its defaults apply.

    Args:
        spec (dict): The model's table row.
        checkpoint (str, optional): The weight file or its folder.

    Returns:
        dict | None: ``input_size``, ``mean``, ``std`` and ``resize`` as in
        the table; None for timm / CONCH models or without the file.

    Raises:
        ValueError: For a transform the encoder cannot reproduce (no
            resize, a non-square output, another resampling filter).
    """
    folder = checkpoint_folder(checkpoint)
    path = osp.join(folder or '', 'preprocessor_config.json')
    if spec['library'] != 'transformers' or not osp.isfile(path):
        return None
    import transformers
    with open(path) as f:
        config = json.load(f)
    name = config.get('image_processor_type') or config.get(
        'feature_extractor_type', '').replace('FeatureExtractor',
                                              'ImageProcessor')
    processor = getattr(transformers, name
                        or HF_PROCESSORS[spec['hf_class']]).from_dict(config)
    size, crop = dict(processor.size), getattr(processor, 'do_center_crop',
                                               False)
    resample = PIL_RESAMPLE.get(int(processor.resample))
    square = crop or ('height' in size and size['height'] == size['width'])
    if not processor.do_resize or resample is None or not square:
        raise ValueError(f'{path}: a transform the encoder does not '
                         f'reproduce ({config}); give input_size, '
                         'interpolation, center_crop, mean and std instead')
    input_size = processor.crop_size['height'] if crop else size['height']
    short = size.get('shortest_edge', input_size)
    return dict(
        input_size=input_size,
        mean=tuple(processor.image_mean),
        std=tuple(processor.image_std),
        resize=dict(
            interpolation=resample,
            antialias=True,
            center_crop=bool(crop),
            crop_rounding='floor' if crop else 'round',
            resize_size=short))


def input_transform(spec: dict, checkpoint: Optional[str] = None) -> dict:
    """``input_size``, ``mean``, ``std`` and ``resize`` of the encoder: the
    table's, or those of the folder's ``preprocessor_config.json`` (see
    :func:`read_hf_transform`), whose differences are logged."""
    table = {k: spec[k] for k in ('input_size', 'mean', 'std', 'resize')}
    table['resize'] = dict(table['resize'])
    table['resize'].setdefault('crop_rounding', 'round')
    table['resize'].setdefault('resize_size', table['input_size'])
    found = read_hf_transform(spec, checkpoint)
    if found is None:
        return table
    diffs = [
        f'{k}: preprocessor_config.json {found[k]!r} vs table {table[k]!r}'
        for k in table
        if found[k] != table[k] and not (k in ('mean', 'std') and all(
            abs(a - b) < 1e-6 for a, b in zip(found[k], table[k])))
    ]
    if diffs:
        print_log(
            f'{spec["arch"]}: the preprocessor_config.json of {checkpoint} '
            f'differs from the published transform ({spec["hub_id"]}): '
            f'{"; ".join(diffs)}. The encoder follows the file.',
            logger='current',
            level=logging.WARNING)
    return found


def _hf_class(spec: dict):
    import transformers
    return getattr(transformers, spec['hf_class'])


def _hf_config(spec: dict, overrides: Optional[dict],
               checkpoint: Optional[str], report: bool):
    """The transformers config: the folder's ``config.json`` when there is
    one (differences from the table logged when ``report``), else the
    table's."""
    model_cls = _hf_class(spec)
    config = read_hf_config(spec, checkpoint)
    if config is None:
        config = dict(spec['hf_config'])
    else:
        diffs = hf_config_differences(spec, config)
        if diffs and report:
            print_log(
                f'{spec["arch"]}: the config.json of {checkpoint} differs '
                f'from the published configuration ({spec["hub_id"]}): '
                f'{"; ".join(diffs)}. The model is built as config.json '
                'says; check that the file belongs to the download.',
                logger='current',
                level=logging.WARNING)
    return model_cls.config_class.from_dict(dict(config, **(overrides or {})))


def build_foundation_model(spec: dict,
                           arch_overrides: Optional[dict] = None,
                           checkpoint: Optional[str] = None,
                           report: bool = True) -> nn.Module:
    """Build the model of ``spec`` with random weights.

    Args:
        spec (dict): A row of :data:`FOUNDATION_MODELS`.
        arch_overrides (dict, optional): Architecture arguments that replace
            the published ones (tests build tiny widths with it): timm
            kwargs, transformers config keys, or CONCH ``vision_cfg`` keys.
        checkpoint (str, optional): The weight file or folder that will be
            loaded: for transformers models its folder's ``config.json``,
            when present, is the configuration (see :func:`read_hf_config`).
        report (bool): Log how that ``config.json`` differs from the table
            (the inspection tool prints it itself). Defaults to True.

    Returns:
        nn.Module: timm ``VisionTransformer`` (``num_classes=0``),
        transformers ``ViTModel`` / ``Dinov2Model``, or CONCH's
        ``VisualModel`` (timm trunk + attentional poolers).
    """
    library = spec['library']
    if library == 'timm':
        import timm
        kwargs = dict(spec['timm_kwargs'], **(arch_overrides or {}))
        return timm.create_model(
            spec['timm_name'],
            pretrained=False,
            **_resolve_timm_layers(kwargs))
    if library == 'transformers':
        config = _hf_config(spec, arch_overrides, checkpoint, report)
        model_cls = _hf_class(spec)
        if spec['hf_class'] == 'ViTModel':  # the card's add_pooling_layer
            return model_cls(config, add_pooling_layer=False)
        return model_cls(config)
    if library == 'conch':
        cfg = _conch_vision_config(arch_overrides)
        # conch-fork's own builder of the vision tower (its create_model
        # also builds the text towers and unpickles the checkpoint)
        coca_model = import_optional('conch.open_clip_custom.coca_model')
        return coca_model._build_vision_tower(**cfg)
    raise ValueError(f"unknown library {library!r}")


def run_hf_vit(model: nn.Module, pixels: torch.Tensor, **kwargs):
    """Forward of a transformers ``ViTModel`` / ``Dinov2Model`` at any
    multiple of its patch size: ``ViTModel`` needs
    ``interpolate_pos_encoding`` for sizes other than its config's (the same
    embeddings at that size); DINOv2 always interpolates."""
    if model.config.model_type == 'vit':
        kwargs['interpolate_pos_encoding'] = True
    return model(pixel_values=pixels, **kwargs)


def strip_prefixes(state: Dict[str, torch.Tensor],
                   prefixes: Tuple[str, ...]) -> Dict[str, torch.Tensor]:
    """Drop the first of ``prefixes`` that every key starts with, repeatedly.

    Keys outside a selecting prefix are kept for the mismatch report.
    """
    changed = True
    while changed:
        changed = False
        for prefix in prefixes:
            if state and all(k.startswith(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items()}
                changed = True
    return state


def select_prefix(state: Dict[str, torch.Tensor],
                  prefix: str) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Keys under ``prefix`` (stripped) and the names of the others."""
    own = {
        k[len(prefix):]: v
        for k, v in state.items() if k.startswith(prefix)
    }
    return own, sorted(k for k in state if not k.startswith(prefix))


def normalise_keys(spec: dict,
                   state: Dict[str, torch.Tensor],
                   part: str = 'model') -> Tuple[Dict, List[str]]:
    """Bring a downloaded state dict to the keys our module has.

    Args:
        spec (dict): The model's table row.
        state (dict): The file's tensors.
        part (str): 'model' (the whole model our encoder builds) or 'trunk'
            (the ViT that the dense backbone uses; for CONCH the timm trunk
            of the vision tower).

    Returns:
        tuple: The state dict with our keys, and the names of the keys that
        belong to other parts of the published model (CONCH's text towers)
        and are ignored on purpose.
    """
    state = strip_prefixes(dict(state), ('module.', ))
    if spec['library'] == 'conch':
        own, ignored = select_prefix(state, 'visual.')
        if not own:  # already the vision tower (the inspection tool's --out)
            own, ignored = state, []
        if part == 'trunk':
            own, rest = select_prefix(own, 'trunk.')
            ignored += ['visual.' + k for k in rest]
        return own, ignored
    if spec['library'] == 'transformers':
        # Hugging Face files of ViTModel / Dinov2Model keep a 'vit.' /
        # 'dinov2.' prefix when saved from a task model.
        prefix = {'ViTModel': 'vit.', 'Dinov2Model': 'dinov2.'}
        own, ignored = select_prefix(state, prefix[spec['hf_class']])
        if not own:
            own, ignored = state, []
        # ViTModel's pooler (add_pooling_layer) is not part of the features.
        ignored += sorted(k for k in own if k.startswith('pooler.'))
        own = {k: v for k, v in own.items() if not k.startswith('pooler.')}
        return own, ignored
    return strip_prefixes(state, ('model.', 'trunk.')), []


def compare_state_dicts(
        expected: Dict[str, torch.Size],
        state: Dict[str, torch.Tensor]) -> Dict[str, List[str]]:
    """Missing, unexpected and shape-mismatched keys of ``state``.

    Args:
        expected (dict): Key -> shape of the module (a meta-device module's
            state dict serves without allocating weights).
        state (dict): Key -> tensor of the file.

    Returns:
        dict: ``missing``, ``unexpected``, ``mismatched`` (``'key: file
        shape vs model shape'``) lists.
    """
    missing = sorted(k for k in expected if k not in state)
    unexpected = sorted(k for k in state if k not in expected)
    mismatched = sorted(
        f'{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k])}'
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k]))
    return dict(missing=missing, unexpected=unexpected, mismatched=mismatched)


def format_mismatch(report: Dict[str, List[str]], limit: int = 8) -> str:
    """One readable line per kind of mismatch."""
    lines = []
    for kind, keys in report.items():
        if keys:
            more = f' (+{len(keys) - limit} more)' if len(keys) > limit else ''
            lines.append(f'{len(keys)} {kind}: {keys[:limit]}{more}')
    return '; '.join(lines)


def load_foundation_weights(module: nn.Module,
                            spec: dict,
                            path: str,
                            part: str = 'model') -> List[str]:
    """Load a local checkpoint into ``module``, every key accounted for.

    Args:
        module (nn.Module): Built by :func:`build_foundation_model` (or its
            trunk, with ``part='trunk'``).
        spec (dict): The model's table row.
        path (str): The weight file or folder.
        part (str): See :func:`normalise_keys`.

    Returns:
        list[str]: Keys of the file ignored on purpose (other towers).

    Raises:
        ValueError: naming the file and listing the missing, unexpected and
            shape-mismatched keys, when the file is not this architecture.
    """
    state, ignored = normalise_keys(
        spec, read_state_dict(path, what='foundation model weights'), part)
    expected = {k: v.shape for k, v in module.state_dict().items()}
    report = compare_state_dicts(expected, state)
    if any(report.values()):
        raise ValueError(
            f'{path}: does not match {spec["arch"]} ({spec["hub_id"]}): '
            f'{format_mismatch(report)}. '
            'tools/model_converters/inspect_foundation_model.py tells which '
            'model a file holds.')
    module.load_state_dict(state, strict=True)
    return ignored
