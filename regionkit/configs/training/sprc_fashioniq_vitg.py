# SPRC on FashionIQ (dress, shirt, toptee) with EVA ViT-g/14, as SPRC trained it (sprc_fgclip_cirr.md §1.5-1.8).
# The three
# losses summed with weight 1 (SPRC's FashionIQ path ignores the CLI weights), AdamW 2e-5, one-cycle
# with pct_start 1.5 / epochs and div_factor 100 over 30 epochs, batch 128; each category validated
# against its own gallery, the best checkpoint by fiq/avg = (R@10 + R@50) / 2.
#   regionkit train configs/training/sprc_fashioniq_vitg.py -o data_root=/data/fashionIQ_dataset
_base_ = ['./_base_/default_runtime.py', './_base_/sprc_schedule.py', './_base_/fashioniq_data.py']

weights = 'weights'
model = dict(type='sprc', preset='pretrain', img_size=224, freeze_vit=True, vit_precision='auto',
             vocab_file=weights + '/bert-base-uncased/vocab.txt', vit_checkpoint=weights + '/eva_vit_g.pth',
             pretrained=weights + '/blip2_pretrained.pth')
losses = [dict(type='itc'), dict(type='rtc'), dict(type='align'), dict(type='region_itc', weight=0.5, enabled=False)]

max_epochs = 30
max_lr = 2e-5
optim_wrapper = dict(optimizer=dict(lr=max_lr))
param_scheduler = [
    dict(type='OneCycleLR', eta_max=max_lr, pct_start=1.5 / max_epochs, div_factor=100, by_epoch=True,
         convert_to_iter_based=True),
    dict(type='OneCycleMomentum', base_momentum=0.85, max_momentum=0.95, pct_start=1.5 / max_epochs, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
val_dataloader = dict(batch_size=16)
default_hooks = dict(checkpoint=dict(save_best='fiq/avg'))
