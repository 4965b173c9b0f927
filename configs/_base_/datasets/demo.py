# Embedded synthetic demo data in the BCSS-WSSS layout, written by
#   python tools/generate_demo_data.py data/demo
_base_ = ['./bcss-wsss.py']
data_root = 'data/demo'
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    sampler=dict(type='InfiniteSampler', shuffle=True),  # 150 iterations
    dataset=dict(data_root=data_root))
val_dataloader = dict(num_workers=1, dataset=dict(data_root=data_root))
test_dataloader = dict(num_workers=1, dataset=dict(data_root=data_root))
