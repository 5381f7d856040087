# SPRC's optimiser and schedule (sprc_fgclip_cirr.md §1.6): AdamW over every trainable parameter
# (betas 0.9/0.98, eps 1e-7, weight decay 0.05 everywhere), one-cycle stepped per iteration.
# torch's OneCycleLR also cycles AdamW's beta1 between 0.95 and 0.85: OneCycleMomentum does that.
# The cycle spans train_cfg.max_epochs (SPRC hard-codes 80 epochs for CIRR; set
# param_scheduler.0.end=80 param_scheduler.1.end=80 for that).  Parameter groups:
# optim_wrapper.paramwise_cfg (mmengine), e.g. dict(custom_keys={'Qformer': dict(lr_mult=0.5)}).
max_lr = 1e-5
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=max_lr, betas=(0.9, 0.98), eps=1e-7, weight_decay=0.05),
)
param_scheduler = [
    dict(type='OneCycleLR', eta_max=max_lr, pct_start=1 / 50, by_epoch=True, convert_to_iter_based=True),
    dict(type='OneCycleMomentum', base_momentum=0.85, max_momentum=0.95, pct_start=1 / 50, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=1)
