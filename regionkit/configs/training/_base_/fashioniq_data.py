# FashionIQ triplets (sprc_fgclip_cirr.md §1.7-1.8): dress, shirt and toptee together for training
# (SPRC's random caption combinations), each category validated against its own gallery with
# "c1 and c2"; R@10 / R@50 per category and averaged.  -o data_root=/path/to/fashionIQ_dataset
data_root = 'fashionIQ_dataset'
transform = dict(pipeline='targetpad', target_ratio=1.25, size=224)
categories = ['dress', 'shirt', 'toptee']
train_dataloader = dict(
    batch_size=128, num_workers=4, persistent_workers=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='retrieval_collate'),
    dataset=dict(type='fashioniq', split='train', categories=categories, transform=transform, box_file=None),
)
val_dataloader = dict(
    batch_size=32, num_workers=4, persistent_workers=False, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='retrieval_collate'),
    dataset=dict(type='fashioniq', split='val', categories=categories, transform=transform),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='fashioniq_recall')
test_evaluator = val_evaluator
val_cfg = dict(type='RetrievalValLoop')
test_cfg = dict(type='RetrievalTestLoop')
