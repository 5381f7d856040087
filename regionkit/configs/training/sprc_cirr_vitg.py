# SPRC on CIRR with the EVA ViT-g/14 backbone, as SPRC trained it (sprc_fgclip_cirr.md §1.5-1.8).
# LAVIS blip2 weights,
# frozen ViT, losses itc + 0.4 rtc + 0.4 align, AdamW 1e-5 (betas 0.9/0.98, eps 1e-7, wd 0.05),
# one-cycle per iteration over the configured 50 epochs, batch 128, drop_last, validation every
# epoch, the best checkpoint by the arithmetic mean of the seven recalls (SPRC's rule) plus the latest.
#   regionkit train configs/training/sprc_cirr_vitg.py -o data_root=/data/cirr_dataset
# Region loss (box file from regionkit infer configs/cirr_boxes_*.py):
#   -o losses.3.enabled=True train_dataloader.dataset.box_file=work_dirs/cirr_boxes_yolo/train/cirr_boxes.json
_base_ = ['./_base_/default_runtime.py', './_base_/sprc_schedule.py', './_base_/cirr_data.py']

weights = 'weights'
model = dict(type='sprc', preset='pretrain', img_size=224, freeze_vit=True, vit_precision='auto',
             vocab_file=weights + '/bert-base-uncased/vocab.txt', vit_checkpoint=weights + '/eva_vit_g.pth',
             pretrained=weights + '/blip2_pretrained.pth')
losses = [dict(type='itc'), dict(type='rtc', weight=0.4), dict(type='align', weight=0.4),
          dict(type='region_itc', weight=0.5, enabled=False)]
default_hooks = dict(checkpoint=dict(save_best='cirr/mean'))
