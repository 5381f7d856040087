# SegGPT's recipe on a tiny random SegGPT (32 x 32 images, 4 blocks): trains on a CPU in minutes, for tests and demos.
#   regionkit train configs/training/seggpt_tiny.py -o data_root=DIR    (DIR/{train,val}/{images,labels})
_base_ = ['./seggpt_finetune.py']

image_size = 32
model = dict(_delete_=True, type='seggpt', beta=0.01, embedding_type='semantic',
             config=dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, image_size=[64, 32],
                         patch_size=8, pretrain_image_size=32, decoder_hidden_size=16, merge_index=1,
                         intermediate_hidden_state_indices=[1, 2, 3], mlp_dim=64, drop_path_rate=0.0))
train_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False,
                        dataset=dict(image_size=image_size, patch_size=8))
val_dataloader = dict(batch_size=16, num_workers=0, dataset=dict(image_size=image_size, patch_size=8))
test_dataloader = val_dataloader
amp = False
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20)]
train_cfg = dict(max_iters=200, val_interval=100)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=100))
