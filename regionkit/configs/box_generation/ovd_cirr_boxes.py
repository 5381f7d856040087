# BARON with a custom vocabulary -> the CIRR recipe's filter -> a CIRR box file.
# Make the vocabulary once (the checkpoint's own CLIP text encoder, ovdet's prompt ensemble):
#   regionkit vocab build --checkpoint checkpoints/this_repo_R-50-FPN_CLIP_iter_90000.pth \
#       --names-file my_classes.txt --out checkpoints/cirr_vocab.npy
#   regionkit infer configs/ovd_cirr_boxes.py -o dataset.root=cirr_dataset --all-splits
_base_ = ['../_base_/cirr_boxes.py']

detector = dict(type='baron', checkpoint='checkpoints/this_repo_R-50-FPN_CLIP_iter_90000.pth',
                vocabulary='checkpoints/cirr_vocab.npy', device='cpu', batch_size=2)

selectors = [
    dict(type='cirr_box_filter', input='detections', output='cirr', min_score=0.3, min_area_norm=0.01, max_boxes=5),
]

runtime = dict(batch_size=2, num_workers=2, seed=0)
