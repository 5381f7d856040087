# Patch Matters "divide" stage after the detector (patch_matters_and_baron.md §1.3-1.6):
# score filter (> 0.3, top-2 and whole-image fallbacks) -> neighbor_rpn_merge at IoU 0.3
# -> four-box and two-box regions; writes four_box.json and object_box.json.
dataset = dict(type='image_folder', root=None)

selectors = [
    dict(type='patch_matters_score_filter', input='detections', output='kept', threshold=0.3),
    dict(type='neighbor_rpn_merge', input='kept', output='merged', iou_threshold=0.3, variant='original'),
    dict(type='n_part_regions', input='merged', output='four_box', n=4),
    dict(type='n_part_regions', input='merged', output='two_box', n=2),
]

writers = [
    dict(type='patch_matters_four_box', filename='four_box.json',
         object_boxes='merged', four_box='four_box', two_box='two_box'),
    dict(type='patch_matters_object_box', filename='object_box.json', boxes='kept'),
]

runtime = dict(batch_size=4, num_workers=2, seed=0)
