# Ablation of the demo run: classification loss only (no ImgMatch FG/BG
# contrastive loss), same data, schedule and bank (paper Table 2, row 1).
_base_ = ['./pbip_mit-b1_demo.py']
model = dict(match_loss=None)
