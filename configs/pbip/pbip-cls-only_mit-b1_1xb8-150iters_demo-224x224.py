# Ablation of the demo run: classification loss only (no ImgMatch FG/BG
# contrastive loss), same data, schedule and bank (paper Table 2, row 1).
_base_ = ['./pbip_mit-b1_1xb8-150iters_demo-224x224.py']
model = dict(match_loss=None)
