# Runner defaults of regionkit's training recipes: hooks, logging, seed, AMP, environment.
# Checkpoints: every epoch, keeping the latest one and the best one (save_best is set by the
# data part: cirr/avg or fiq/avg); losses are logged one by one (loss_itc, loss_rtc, ...).
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=True, save_best='auto', rule='greater',
                    max_keep_ckpts=1, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
log_processor = dict(by_epoch=True, window_size=50)
log_level = 'INFO'
log_to = ['local']                      # add 'tensorboard' and/or 'wandb'
wandb = dict(project='regionkit', name=None, entity=None, mode=None, tags=[],
             best_checkpoint=dict(when='improve', delete_superseded=True))
amp = 'auto'                            # fp16 autocast + GradScaler on CUDA (SPRC), fp32 on CPU
randomness = dict(seed=0, deterministic=False)
reseed_each_epoch = True
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
load_from = None
resume = False
