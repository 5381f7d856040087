# CIRR triplets (sprc_fgclip_cirr.md §1.7, §4): SPRC's TargetPad(1.25) -> Resize(224) -> CenterCrop(224),
# CLIP normalisation; train on 'train' (drop_last, as SPRC), validate on 'val' against the whole
# split gallery (references included), R@K and Rs@K as SPRC reports them.  Set the dataset folder
# with -o data_root=/path/to/cirr_dataset; a box file for a region loss with
# -o train_dataloader.dataset.box_file=work_dirs/cirr_boxes_yolo/train/cirr_boxes.json.
data_root = 'cirr_dataset'
transform = dict(pipeline='targetpad', target_ratio=1.25, size=224)
train_dataloader = dict(
    batch_size=128, num_workers=4, persistent_workers=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='retrieval_collate'),
    dataset=dict(type='cirr', split='train', transform=transform, box_file=None),
)
val_dataloader = dict(
    batch_size=32, num_workers=4, persistent_workers=False, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='retrieval_collate'),
    dataset=dict(type='cirr', split='val', transform=transform),
)
test_dataloader = val_dataloader        # -o test_dataloader.dataset.split=test1 writes the server's files
val_evaluator = dict(type='cirr_recall')
test_evaluator = val_evaluator
val_cfg = dict(type='RetrievalValLoop')
test_cfg = dict(type='RetrievalTestLoop')
