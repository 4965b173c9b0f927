"""One-off asset builder for the released-PBIP CPU benchmark (random weights,
no hub).

Run by run.sh in the same folder. Needs RELEASED_PBIP (a checkout of
github.com/QingchenTang/PBIP); BENCH_HOME (optional) is where the assets go,
default work_dirs/released_pbip_benchmark.

Writes, under BENCH_HOME:
  hf_home/hub/models--microsoft--swin-tiny-patch4-window7-224/...
      (random SwinModel, HF swin-tiny config)
  hf_home/hub/models--emilyalsentzer--Bio_ClinicalBERT/...
      (random BertModel, Bio_ClinicalBERT config + dummy vocab)
  swin-tiny -> symlink to the swin snapshot folder
and $RELEASED_PBIP/pretrained/mit_b1.pth
      (random MiT-b1 state dict incl. head.*).
Everything random; seeds fixed so both glibc environments see identical
weights.
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
PBIP = os.path.abspath(os.environ['RELEASED_PBIP'])
ROOT = os.path.abspath(
    os.environ.get('BENCH_HOME',
                   os.path.join(REPO, 'work_dirs', 'released_pbip_benchmark')))
HUB = os.path.join(ROOT, 'hf_home', 'hub')
REV = '0' * 40  # fake commit hash for the local offline cache


def snapshot_dir(repo_id):
    d = os.path.join(HUB, 'models--' + repo_id.replace('/', '--'))
    os.makedirs(os.path.join(d, 'refs'), exist_ok=True)
    with open(os.path.join(d, 'refs', 'main'), 'w') as f:
        f.write(REV)
    s = os.path.join(d, 'snapshots', REV)
    os.makedirs(s, exist_ok=True)
    return s


def make_swin():
    from transformers import SwinConfig, SwinModel
    out = snapshot_dir('microsoft/swin-tiny-patch4-window7-224')
    if os.path.exists(os.path.join(out, 'config.json')):
        return out
    torch.manual_seed(1)
    # SwinConfig() defaults == microsoft/swin-tiny-patch4-window7-224:
    # embed_dim 96, depths [2,2,6,2], heads [3,6,12,24], window 7, patch 4,
    # image 224, mlp_ratio 4, qkv_bias, drop_path_rate 0.1, hidden/attn
    # dropout 0, layer_norm_eps 1e-5
    cfg = SwinConfig()
    geometry = (cfg.embed_dim, cfg.depths, cfg.num_heads, cfg.window_size,
                cfg.image_size, cfg.patch_size)
    assert geometry == (96, [2, 2, 6, 2], [3, 6, 12, 24], 7, 224, 4)
    SwinModel(cfg).save_pretrained(out)  # model.safetensors + config.json
    return out


def make_bert():
    from transformers import BertConfig, BertModel
    out = snapshot_dir('emilyalsentzer/Bio_ClinicalBERT')
    if os.path.exists(os.path.join(out, 'config.json')):
        return out
    torch.manual_seed(2)
    # Bio_ClinicalBERT = bert-base-cased geometry, vocab 28996
    cfg = BertConfig(
        vocab_size=28996,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
        type_vocab_size=2)
    # Bio_ClinicalBERT's hub repo ships pytorch_model.bin (no safetensors on
    # main): mirror that.
    BertModel(cfg).save_pretrained(out, safe_serialization=False)
    unused = [f'[unused{i}]' for i in range(99)]
    special = ['[PAD]'] + unused + ['[UNK]', '[CLS]', '[SEP]', '[MASK]']
    toks = special + [f'tok{i}' for i in range(28996 - len(special))]
    with open(os.path.join(out, 'vocab.txt'), 'w') as f:
        f.write('\n'.join(toks) + '\n')
    return out


def make_mit_b1():
    sys.path.insert(0, PBIP)
    from model.segform import mix_transformer
    out = os.path.join(PBIP, 'pretrained', 'mit_b1.pth')
    if os.path.exists(out):
        return out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    torch.manual_seed(3)
    enc = mix_transformer.mit_b1(stride=[4, 2, 2, 1])
    sd = enc.state_dict()
    # the released loader pops these two keys, so they must exist
    if 'head.weight' not in sd:
        sd['head.weight'] = torch.randn(1000, 512) * 0.02
        sd['head.bias'] = torch.zeros(1000)
    torch.save(sd, out)
    return out


if __name__ == '__main__':
    s = make_swin()
    link = os.path.join(ROOT, 'swin-tiny')
    if not os.path.islink(link):
        os.symlink(s, link)
    print('swin:', s)
    print('bert:', make_bert())
    print('mit_b1:', make_mit_b1())
