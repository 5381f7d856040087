# SPRC on CIRR with the CLIP ViT-L/14 backbone (SPRC's --backbone pretrain_vitL); otherwise as sprc_cirr_vitg.py.
#   regionkit train configs/training/sprc_cirr_vitl.py -o data_root=/data/cirr_dataset
_base_ = ['./sprc_cirr_vitg.py']

weights = 'weights'
model = dict(preset='pretrain_vitL', vit_checkpoint=weights + '/clip_vit_L.pth',
             pretrained=weights + '/blip2_pretrained_vitL.pth')
