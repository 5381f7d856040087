# The tiny SegGPT recipe at 64 px on the photo-mask folder: learning shown on a CPU in about 2 minutes.
# Real photos with brighter-half masks, validation on held-out photos; 1000 steps.
#   regionkit seggpt photo-masks data/photo_masks
#   regionkit train configs/training/seggpt_tiny_photos.py -o data_root=data/photo_masks
_base_ = ['./seggpt_tiny.py']

data_root = 'data/photo_masks'
image_size = 64
model = dict(config=dict(image_size=[128, 64], pretrain_image_size=64))
train_dataloader = dict(dataset=dict(image_size=image_size))
val_dataloader = dict(dataset=dict(image_size=image_size))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=1000, val_interval=100)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=1000))
