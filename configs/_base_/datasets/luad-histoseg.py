# LUAD-HistoSeg (docs/datasets.md). Override `data_root` to your copy:
#   data_root/training/*-[1 0 0 1].png, data_root/{val,test}/{img,mask}/*.png
_base_ = ['./bcss-wsss.py']
dataset_type = 'LUADHistoSegDataset'
data_root = 'data/LUAD-HistoSeg'
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
# Whole-slide inference: LUAD-HistoSeg patches are at 10x, about 1 um/px.
wsi_mpp = 1.0
