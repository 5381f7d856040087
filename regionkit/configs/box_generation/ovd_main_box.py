# BARON -> Patch Matters score filter -> main box -> main_box.json (divide/get_main_box.py's layout).
# Default main box: the deterministic union of the most confident class's detections (no model).
# For the paper's caption-driven main box, replace the stage as in configs/main_box.py.
dataset = dict(type='image_folder', root=None)

detector = dict(type='baron', checkpoint='checkpoints/this_repo_R-50-FPN_CLIP_iter_90000.pth', device='cpu',
                batch_size=2)

selectors = [
    dict(type='patch_matters_score_filter', input='detections', output='kept', threshold=0.3),
    dict(type='main_box_union', input='kept', output='main_box', top_classes=1),
]

writers = [dict(type='main_box', filename='main_box.json', main_box='main_box')]

runtime = dict(batch_size=2, num_workers=2, seed=0)
