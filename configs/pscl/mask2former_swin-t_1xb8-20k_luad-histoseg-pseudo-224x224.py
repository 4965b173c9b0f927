# PSCL stage two on LUAD-HistoSeg.
_base_ = ['../_base_/mask2former_swin-t_pseudo.py']
stage1_checkpoint = ('work_dirs/pscl_swin-t_1xb10-5e_luad-histoseg-224x224/'
                     'epoch_5.pth')
dataset = dict(type='LUADHistoSegDataset', data_root='data/LUAD-HistoSeg')
model = dict(backbone=dict(init_cfg=dict(checkpoint=stage1_checkpoint)))
train_dataloader = dict(
    dataset=dict(
        dataset,
        data_prefix=dict(
            seg_map_path=('pseudo_labels/'
                          'pscl_swin-t_1xb10-5e_luad-histoseg-224x224'))))
val_dataloader = dict(dataset=dataset)
test_dataloader = dict(dataset=dataset)
