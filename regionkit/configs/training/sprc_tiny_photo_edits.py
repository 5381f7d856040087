# SPRC's tiny preset learns composed retrieval on real photographs (scikit-image's) on a CPU in minutes.
# The task (regionkit.datasets.photo_edits): a photograph crop, a caption saying an edit ("flipped
# left to right", "in black and white", "only the left half", ...), the edited crop; 14 photographs
# for training, 5 others for validation, every base and edited image in the gallery.  The task is
# written to work_dirs/photo_edits on first use.  Region-loss variant (the task ships box files):
#   regionkit train configs/training/sprc_tiny_photo_edits.py -o losses.3.enabled=True
_base_ = ['./_base_/default_runtime.py', './_base_/sprc_schedule.py']

transform = dict(pipeline='targetpad', target_ratio=1.25, size=112)
# No pretrained weights exist for the tiny preset: it starts from random weights, with Xavier-initialised linear
# layers (BERT's std 0.02 leaves a model this small with one output for every image).  The ViT trains too.
model = dict(type='sprc', preset='tiny', img_size=112, freeze_vit=False, num_query_token=16, padding='longest',
             init_cfg=dict(type='Xavier', layer='Linear', gain=1.0, distribution='normal'))
losses = [dict(type='itc'), dict(type='rtc', weight=0.4), dict(type='align', weight=0.4),
          dict(type='region_itc', weight=0.5, enabled=False)]

data_root = 'work_dirs/photo_edits'
train_dataloader = dict(
    batch_size=32, num_workers=0, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='retrieval_collate'),
    dataset=dict(type='photo_edits', split='train', transform=transform, cache_images=True),
)
val_dataloader = dict(
    batch_size=64, num_workers=0, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='retrieval_collate'),
    dataset=dict(type='photo_edits', split='val', transform=transform, cache_images=True),
)
val_evaluator = dict(type='cirr_recall')
val_cfg = dict(type='RetrievalValLoop')
# no test_* sections: regionkit test evaluates the validation split, with the same -o overrides as training

max_lr = 1e-3
optim_wrapper = dict(optimizer=dict(lr=max_lr))
param_scheduler = [
    dict(type='OneCycleLR', eta_max=max_lr, pct_start=0.1, by_epoch=True, convert_to_iter_based=True),
    dict(type='OneCycleMomentum', base_momentum=0.85, max_momentum=0.95, pct_start=0.1, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=30, val_interval=5)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(save_best='cirr/avg'))
