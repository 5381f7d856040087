# CIRR box files as in the SPRC fork's generate_cirr_boxes.py (sprc_fgclip_cirr.md §5):
# detector boxes -> keep area_norm >= 0.01, largest first, at most 5 -> {image_name: [[x1,y1,x2,y2], ...]}
# normalised to [0, 1].  Images come from <root>/cirr/image_splits/split.rc2.<split>.json.
#   regionkit infer configs/cirr_boxes_yolo.py -o dataset.root=cirr_dataset --split train
#   regionkit infer configs/cirr_boxes_yolo.py -o dataset.root=cirr_dataset --all-splits   # train and val
dataset = dict(type='cirr_split', root='cirr_dataset', split='train')

selectors = [
    dict(type='cirr_box_filter', input='detections', output='cirr', min_score=None, min_area_norm=0.01, max_boxes=5),
]

writers = [dict(type='cirr_boxes', filename='cirr_boxes.json', boxes='cirr')]

runtime = dict(batch_size=8, num_workers=2, seed=0)
