# SegGPT fine-tuning as SegGPT-FineTune did it (seggpt.md section 4): random repaint, mask_ratio 0.75, smooth-L1.
# Data: <data_root>/{train,val}/images/<name> with same-named class-id (or 0/255) labels in .../labels/.  Weights are
# local (never downloaded): a transformers SegGPT folder or Painter's seggpt_vit_large.pth.  Needs a GPU (>= 24 GB).
#   regionkit train configs/training/seggpt_finetune.py -o data_root=data/defects \
#       -o model.model=checkpoints/seggpt_vit_large.pth
# Several GPUs: torchrun --nproc-per-node N tools/train.py configs/training/seggpt_finetune.py --launcher pytorch
# The best checkpoint is chosen on the validation foreground IoU of the query half (seggpt/fg_iou).
_base_ = ['./_base_/default_runtime.py']

data_root = 'data/seggpt'
num_classes = 1                          # classes besides the background (1: binary defect masks)
image_size = 448
model = dict(type='seggpt', model='checkpoints/seggpt_vit_large.pth', beta=0.01, embedding_type='semantic')

train_dataloader = dict(
    batch_size=6, num_workers=4, drop_last=True, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='seggpt_pairs', split='train', num_classes=num_classes, image_size=image_size,
                 mask_ratio=0.75, background='random'),
)
val_dataloader = dict(
    batch_size=6, num_workers=2, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='seggpt_pairs', split='val', num_classes=num_classes, image_size=image_size,
                 max_pairs=1600, test_mode=True),
)
val_evaluator = dict(type='seggpt_iou', num_classes=num_classes, exclude_prompt=True)
val_cfg = dict(type='ValLoop')
test_dataloader = val_dataloader
test_evaluator = val_evaluator
test_cfg = dict(type='TestLoop')

# AdamW (torch's weight decay 0.01), peak lr 1e-4; upstream's CosineAnnealingWarmupRestarts: every cycle warms up
# linearly from 1e-8 over 500 steps, then a cosine down to 1e-8; cycles of 5000, 5900, 6980, 8276 steps, peaks halved.
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01))
param_scheduler = [
    dict(type='CosineWarmupRestartsLR', first_cycle_steps=5000, cycle_mult=1.2, warmup_steps=500, gamma=0.5,
         min_lr=1e-8, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=26156, val_interval=1000)
log_processor = dict(by_epoch=False, window_size=50)
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(by_epoch=False, interval=1000, save_best='seggpt/fg_iou', rule='greater'))
