# GCSS (gastric), 4 tissue classes, same layout and label protocol as BCSS:
#   data_root/{train,val,test}/{img,mask}/*.png
_base_ = ['./bcss.py']
dataset_type = 'GCSSDataset'
data_root = 'data/GCSS'
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
# Whole-slide inference: the GCSS patch resolution is not published with the
# data; give it with tools/infer_wsi.py --mpp.
wsi_mpp = None
