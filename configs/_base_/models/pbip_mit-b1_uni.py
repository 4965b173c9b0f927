# PBIP stage one with a pathology foundation model as the prototype encoder:
# UNI (ViT-L/16, MahmoodLab, 1024-d class token at 224 px). Everything is the
# released code's (pbip_mit-b1.py) except what a foundation model needs to
# see its own input space:
# - the encoder takes RGB in [0, 1] and normalises it with the model card's
#   statistics, in the image bank (input_space='rgb01', no whole-tensor
#   stretch) and in the ImgMatch loss (image_space='rgb01');
# - FG / BG images are M * X and (1 - M) * X (paper eq. 5) with M the
#   subclass map after ReLU / image maximum, in [0, 1] (cam_scaling
#   'relu_max'; the binary mask is the released one): the released raw maps
#   and per-channel stretch would move them out of that space;
# - the prototype size follows the encoder (head.prototype_dim=None).
# Any other model is one line: image_encoder.arch (and its checkpoint), e.g.
#   --cfg-options model.image_encoder.arch=uni2-h \
#       model.image_encoder.checkpoint=pretrained/uni2-h/pytorch_model.bin
# (models, files and licences: docs/methods.md, "Foundation models";
# tools/model_converters/inspect_foundation_model.py checks a download).
_base_ = ['./pbip_mit-b1.py']
model = dict(
    head=dict(prototype_dim=None),
    image_encoder=dict(
        _delete_=True,
        type='FoundationModelEncoder',
        arch='uni',
        checkpoint='pretrained/uni/pytorch_model.bin'),
    match_loss=dict(
        image_space='rgb01', minmax_before_mask=False, cam_scaling='relu_max'))
image_bank_hook = dict(
    _base_.image_bank_hook, input_space='rgb01', stretch=False)
# the runtime's hooks, then this image bank in place of the released one
custom_hooks = _base_.custom_hooks[:-1] + [image_bank_hook]
