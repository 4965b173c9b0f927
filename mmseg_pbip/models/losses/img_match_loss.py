"""PBIP's ImgMatch foreground/background contrastive loss."""
import contextlib
from typing import Dict, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmseg.registry import MODELS
from torch.utils.checkpoint import checkpoint, set_checkpoint_early_stop

Tensor = torch.Tensor


@MODELS.register_module()
class ImgMatchLoss(nn.Module):
    """Contrast the encoder features of CAM-masked images with prototypes.

    The segmentor passes activation maps ``[B, M, h, w]`` (released code:
    the raw last-stage subclass maps; paper: ``M'``, the summed class maps
    of eq. 3) and the selected (image b, map m) pairs ``[S, 2]``. The maps
    are upsampled to the image (bilinear, ``align_corners=True``) and, per
    pair, turned into a binary mask ``b = M >= tau`` with the adaptive
    threshold ``tau = threshold * max`` (eq. 4), the maximum taken over all
    maps of the image (``threshold_scope='image'``, released) or over the
    pair's own map (``'map'``).

    ``cam_scaling`` says what ``M`` is: ``'raw'`` (released: the maps as
    they are, logits not ReLU'd nor rescaled) or ``'relu_max'`` (ReLU, then
    divided by the maximum of the threshold scope, so ``M`` is in [0, 1]).

    FG / BG images, with ``X`` the image the segmentor passes (released:
    the network input, histology-normalised):

    - ``minmax_before_mask=True`` (released):
      ``X_FG = minmax_c(M * X) * b``, ``X_BG = minmax_c((1 - M) * X) *
      (1 - b)``, ``minmax_c`` scaling each channel of each image to
      [0, 1] (``eps`` 1e-8);
    - ``False`` (paper, eq. 5): ``X_FG = b * M * X``,
      ``X_BG = (1 - b) * (1 - M) * X``.

    Both go through the frozen encoder in one call, ``f_FG, f_BG [S, d]``,
    which are L2-normalised; ``s = <f, p> / temperature`` with every
    prototype ``p`` (unit-normalised first when ``normalize_prototypes``).
    Gradients flow into the maps, not into the binary mask. The mask
    selects pixels (``torch.where``) instead of multiplying them: the same
    images and, wherever the product's gradient is finite, the same
    gradients; at masked-out pixels the product would turn the frozen
    encoder's gradient, which overflows there (below), into NaN.

    Why it overflows: the masked-out pixels are exactly 0, and so are the
    encoder's tokens in windows that see only such pixels when its biases
    are 0 (e.g. a randomly initialised transformers Swin). LayerNorm of an
    all-zero token divides by ``sqrt(eps)``, which multiplies the
    gradient by 316 (eps 1e-5) at every one of Swin-T's 29 LayerNorms.

    ``contrast='infonce'`` (released; the map index is a subclass ``k``):

    - ``L_FG = -log(sum_pairs e^{s_k} / (sum_pairs e^{s_k} +
      sum_pairs sum_{m != k} e^{s_m}))`` (sums over pairs before the log);
    - ``L_BG = -log(sum_pairs mean_{m != k} e^{s_m} / (that +
      sum_pairs e^{s_k}))`` (roles swapped, mean over the other prototypes).

    ``contrast='paper'`` (eq. 9-12; the map index is a class ``j``, its
    prototypes ``P[j]`` are the K subclass prototypes of ``j``):

    - ``L_FGS = mean_pairs softplus(s_FB - s_FF)`` with
      ``s_FF = sum_{p in P[j]} s_p``, ``s_FB = sum_{p not in P[j]} s_p``
      (eq. 9-10);
    - ``L_BGS = mean_pairs softplus(s_BF - s_BB)`` with
      ``s_BB = mean_{p not in P[j]} s_p`` (eq. 12) and
      ``s_BF = mean_{p in P[j]} s_p`` (eq. 11 leaves it undefined).

    Returns ``fg_weight * L_FG``, ``bg_weight * L_BG`` and
    ``cam_reg_weight * mean(maps)`` (released: the mean of the raw
    stage-4 subclass maps). With no selected pair both terms are 0 (the
    graph stays connected, the gradient finite).

    Args:
        threshold (float): ``delta`` of the adaptive threshold (released
            0.5, paper 0.15).
        threshold_scope (str): 'image' or 'map'. Defaults to 'image'.
        cam_scaling (str): 'raw' or 'relu_max'. Defaults to 'raw'.
        minmax_before_mask (bool): Released per-channel stretch of the
            weighted images before the binary mask. Defaults to True.
        image_space (str): Which image the segmentor passes as ``X``:
            'inputs' (the network input, as released) or 'rgb01' (RGB in
            [0, 1]). Defaults to 'inputs'.
        contrast (str): 'infonce' or 'paper'. Defaults to 'infonce'.
        normalize_prototypes (bool): Unit-normalise the prototypes before
            the dot product. Defaults to False (released: as stored).
        temperature (float): Released code 0.07, paper 1.
        fg_weight (float): Weight of L_FG (released 0.1; paper
            beta * theta1 = 0.5).
        bg_weight (float): Weight of L_BG (released 0.1; paper
            beta * theta2 = 0.25).
        cam_reg_weight (float): Weight of ``mean(maps)`` (released
            0.1 * 0.0005; paper 0).
        encoder_checkpoint (bool): Keep only the FG/BG images of the frozen
            encoder's pass and recompute its activations in the backward
            pass (``torch.utils.checkpoint``): the same losses and
            gradients for much less memory, for one more encoder forward.
            Defaults to False.
        encoder_chunk (int, optional): Encode the ``2S`` FG/BG images in
            chunks of this many (with ``encoder_checkpoint``, the peak of
            the recomputation is one chunk's activations). None: one batch.
        encoder_compile (bool | dict): Run the frozen encoder's FG/BG pass
            through ``torch.compile`` (``dynamic=True``: one compilation
            for every number of pairs; a dict gives other options). The
            same maths up to float rounding; a few minutes of compilation
            once, then each pass faster. If compilation fails (e.g. no C++
            compiler for the CPU backend) the pass falls back to eager mode
            with a warning (a failure while compiling the backward pass
            is not caught). Defaults to False.
        encoder_autocast (str, optional): Run the frozen encoder's FG/BG
            pass (forward and backward) under ``torch.autocast`` in this
            dtype: 'bfloat16' (CPUs with AVX-512 BF16 or AMX, and GPUs) or
            'float16' (GPUs). The features come back in the images' dtype. This
            CHANGES the numbers (half-precision rounding inside the
            encoder, about 1 % relative on the image gradients); it is
            neither the released computation on a CPU nor the paper's.
            None (default): the images' dtype.
    """

    def __init__(self,
                 threshold: float = 0.5,
                 threshold_scope: str = 'image',
                 cam_scaling: str = 'raw',
                 minmax_before_mask: bool = True,
                 image_space: str = 'inputs',
                 contrast: str = 'infonce',
                 normalize_prototypes: bool = False,
                 temperature: float = 0.07,
                 fg_weight: float = 0.1,
                 bg_weight: float = 0.1,
                 cam_reg_weight: float = 0.1 * 0.0005,
                 encoder_checkpoint: bool = False,
                 encoder_chunk: Optional[int] = None,
                 encoder_compile: Union[bool, dict] = False,
                 encoder_autocast: Optional[str] = None) -> None:
        super().__init__()
        for name, value, allowed in (
            ('threshold_scope', threshold_scope, ('image', 'map')),
            ('cam_scaling', cam_scaling, ('raw', 'relu_max')),
            ('image_space', image_space, ('inputs', 'rgb01')),
            ('contrast', contrast, ('infonce', 'paper')),
        ):
            if value not in allowed:
                raise ValueError(f'ImgMatchLoss: {name} must be one of '
                                 f'{allowed}, got {value!r}')
        self.threshold = threshold
        self.threshold_scope = threshold_scope
        self.cam_scaling = cam_scaling
        self.minmax_before_mask = minmax_before_mask
        self.image_space = image_space
        self.contrast = contrast
        self.normalize_prototypes = normalize_prototypes
        self.temperature = temperature
        self.fg_weight = fg_weight
        self.bg_weight = bg_weight
        self.cam_reg_weight = cam_reg_weight
        if encoder_chunk is not None and encoder_chunk < 1:
            raise ValueError(f'ImgMatchLoss: encoder_chunk must be >= 1, got '
                             f'{encoder_chunk}')
        self.encoder_checkpoint = encoder_checkpoint
        self.encoder_chunk = encoder_chunk
        self.encoder_compile = encoder_compile
        if encoder_autocast not in (None, 'bfloat16', 'float16'):
            raise ValueError('ImgMatchLoss: encoder_autocast must be None, '
                             f"'bfloat16' or 'float16', got "
                             f'{encoder_autocast!r}')
        self.encoder_autocast = encoder_autocast
        # (encoder, compiled callable) outside the module tree, so that
        # state dicts and checkpoints stay those of the eager modules
        self._compiled = {}

    @staticmethod
    def minmax_per_channel(x: Tensor, eps: float = 1e-8) -> Tensor:
        """``[S, C, H, W]`` -> each channel scaled to [0, 1]."""
        lo = x.amin((2, 3), keepdim=True)
        hi = x.amax((2, 3), keepdim=True)
        return (x - lo) / (hi - lo + eps)

    def masked_images(self, images: Tensor, cams: Tensor, pairs: Tensor):
        """FG and BG images of the selected pairs.

        Args:
            images (Tensor): ``[B, 3, H, W]``, the image ``X``.
            cams (Tensor): ``[B, M, h, w]`` activation maps.
            pairs (Tensor): ``[S, 2]`` (image, map) indices.

        Returns:
            tuple[Tensor, Tensor]: ``[S, 3, H, W]`` FG and BG images.
        """
        cams = F.interpolate(
            cams, size=images.shape[-2:], mode='bilinear',
            align_corners=True)  # [B, M, H, W]
        if self.cam_scaling == 'relu_max':
            cams = cams.relu()
        if self.threshold_scope == 'image':
            peak = cams.amax((1, 2, 3), keepdim=True)[pairs[:, 0]]
            m = cams[pairs[:, 0], pairs[:, 1]][:, None]  # [S, 1, H, W]
        else:
            m = cams[pairs[:, 0], pairs[:, 1]][:, None]
            peak = m.amax((2, 3), keepdim=True)
        if self.cam_scaling == 'relu_max':
            m, peak = m / (peak + 1e-5), peak / (peak + 1e-5)
        b = (m >= self.threshold * peak).detach()  # [S, 1, H, W] bool
        x = images[pairs[:, 0]]
        if self.minmax_before_mask:
            fg, bg = (self.minmax_per_channel(m * x),
                      self.minmax_per_channel((1 - m) * x))
        else:
            fg, bg = m * x, (1 - m) * x
        # the binary mask as a selection, not a product: the same images
        # (y * 1 = y, y * 0 = 0), and the same gradient wherever it is
        # finite; but the encoder's gradient at the masked-out pixels,
        # which can overflow to inf (LayerNorm of all-zero tokens), is
        # dropped instead of becoming inf * 0 = NaN
        return torch.where(b, fg, 0.), torch.where(b, 0., bg)

    def encode(self, encoder: nn.Module, images: Tensor) -> Tensor:
        """``[n, 3, H, W] -> [n, d]`` through the frozen encoder, in
        ``encoder_chunk`` chunks, recomputed in the backward pass when
        ``encoder_checkpoint``, under ``encoder_autocast``."""
        run = self.compiled(encoder)
        if self.encoder_autocast is None:
            cast = contextlib.nullcontext()
        else:
            cast = torch.autocast(
                images.device.type,
                dtype=getattr(torch, self.encoder_autocast))
        with cast:
            if not self.encoder_checkpoint and self.encoder_chunk is None:
                return run(images).to(images.dtype)
            feats = []
            # full recomputation (no early stop, whose control-flow
            # exception would otherwise pass through the compiled callable);
            # checkpoint re-enters the autocast state in the recomputation
            with set_checkpoint_early_stop(False):
                for chunk in images.split(self.encoder_chunk
                                          or images.shape[0]):
                    if self.encoder_checkpoint and torch.is_grad_enabled():
                        feats.append(
                            checkpoint(run, chunk, use_reentrant=False))
                    else:
                        feats.append(run(chunk))
        return torch.cat(feats).to(images.dtype)

    def compiled(self, encoder: nn.Module):
        """``encoder``, or its ``torch.compile`` when ``encoder_compile``
        (eager again, with a warning, if compilation fails)."""
        if not self.encoder_compile:
            return encoder
        if self._compiled.get('encoder') is not encoder:
            self._compiled = dict(encoder=encoder, run=None)
        entry = self._compiled

        def run(images):
            if entry['run'] is encoder:
                return encoder(images)
            try:
                if entry['run'] is None:
                    options = dict(dynamic=True)
                    if isinstance(self.encoder_compile, dict):
                        options.update(self.encoder_compile)
                    entry['run'] = torch.compile(encoder, **options)
                return entry['run'](images)
            except Exception as e:  # no compiler, unknown backend, recompile
                print_log(
                    'ImgMatchLoss: torch.compile of the image encoder failed '
                    f'({type(e).__name__}: {str(e)[:200]}); running it '
                    'eagerly from now on',
                    logger='current',
                    level=30)
                entry['run'] = encoder
                return encoder(images)

        return run

    def similarities(self, feats: Tensor, prototypes: Tensor) -> Tensor:
        """``[n, d]`` features x ``[P, d]`` prototypes -> ``[n, P]``."""
        if self.normalize_prototypes:
            prototypes = F.normalize(prototypes, dim=-1)
        return F.normalize(feats, dim=-1) @ prototypes.T / self.temperature

    @staticmethod
    def infonce(fg: Tensor, bg: Tensor, own: Tensor):
        """Released FG and BG InfoNCE terms.

        Args:
            fg (Tensor): ``[S, P]`` FG similarities / temperature.
            bg (Tensor): ``[S, P]`` BG similarities / temperature.
            own (Tensor): ``[S, P]`` bool, the pair's own prototype.

        Returns:
            tuple[Tensor, Tensor]: scalar ``L_FG`` and ``L_BG``.
        """
        # log-sum-exp over pairs for stability
        fg_pos = torch.logsumexp(fg[own], 0)
        fg_neg = torch.logsumexp(fg.masked_fill(own, -1e4), (0, 1))
        loss_fg = -(fg_pos - torch.logaddexp(fg_pos, fg_neg))
        others = (~own).sum(1).clamp(min=1).to(bg.dtype)
        bg_neg_mean = torch.logsumexp(bg.masked_fill(own, -1e4),
                                      1) - others.log()
        bg_pos_set = torch.logsumexp(bg_neg_mean, 0)
        bg_own = torch.logsumexp(bg[own], 0)
        loss_bg = -(bg_pos_set - torch.logaddexp(bg_pos_set, bg_own))
        return loss_fg, loss_bg

    @staticmethod
    def paper_terms(fg: Tensor, bg: Tensor, own: Tensor):
        """The paper's FG and BG terms (eq. 9-12), averaged over pairs.

        Args:
            fg (Tensor): ``[S, P]`` FG similarities / temperature.
            bg (Tensor): ``[S, P]`` BG similarities / temperature.
            own (Tensor): ``[S, P]`` bool, the prototypes of the pair's
                class.

        Returns:
            tuple[Tensor, Tensor]: scalar ``L_FGS`` and ``L_BGS``.
        """
        own_f = own.to(fg.dtype)
        s_ff = (fg * own_f).sum(1)
        s_fb = (fg * (1 - own_f)).sum(1)
        s_bb = (bg * (1 - own_f)).sum(1) / (1 - own_f).sum(1).clamp(min=1)
        s_bf = (bg * own_f).sum(1) / own_f.sum(1).clamp(min=1)
        return F.softplus(s_fb - s_ff).mean(), F.softplus(s_bf - s_bb).mean()

    def forward(self,
                images: Tensor,
                cams: Tensor,
                pairs: Tensor,
                encoder: nn.Module,
                prototypes: Tensor,
                own: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Compute the loss terms.

        Args:
            images (Tensor): ``[B, 3, H, W]``, the image ``X``.
            cams (Tensor): ``[B, M, h, w]`` activation maps.
            pairs (Tensor): ``[S, 2]`` selected (image, map) pairs.
            encoder (nn.Module): Frozen encoder, ``[n, 3, H, W] -> [n, d]``.
            prototypes (Tensor): ``[P, d]`` encoder-space prototypes.
            own (Tensor, optional): ``[M, P]`` bool, the prototypes that
                are positive for each map. Defaults to the identity (map
                ``k`` is subclass ``k``).

        Returns:
            dict[str, Tensor]: ``loss_fg``, ``loss_bg``, ``loss_cam_reg``.
        """
        reg = self.cam_reg_weight * cams.mean()
        if pairs.numel() == 0:
            zero = cams.sum() * 0
            return dict(loss_fg=zero, loss_bg=zero, loss_cam_reg=reg)
        if own is None:
            own = torch.eye(
                prototypes.shape[0],
                dtype=torch.bool,
                device=prototypes.device)
        fg, bg = self.masked_images(images, cams, pairs)
        sims = self.similarities(
            self.encode(encoder, torch.cat([fg, bg], 0)), prototypes)
        num_s = pairs.shape[0]
        terms = self.infonce if self.contrast == 'infonce' else \
            self.paper_terms
        loss_fg, loss_bg = terms(sims[:num_s], sims[num_s:], own[pairs[:, 1]])
        return dict(
            loss_fg=self.fg_weight * loss_fg,
            loss_bg=self.bg_weight * loss_bg,
            loss_cam_reg=reg)
