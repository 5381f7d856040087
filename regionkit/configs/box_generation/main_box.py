# Patch Matters main box from YOLO boxes -> main_box.json (needs local YOLO weights).
# Default: the deterministic, model-free strategy (union of the most confident class's
# detections; whole image [0, 0, W-1, H-1] when nothing qualifies).  For the paper's
# caption-driven strategy, replace the main-box stage with:
#   dict(type='patch_matters_main_box', input='kept', output='main_box',
#        captioner=dict(type='transformers_captioner', model='/models/blip2-opt-2.7b'),
#        matcher=dict(type='llm_matcher', model='/models/Meta-Llama-3.1-8B-Instruct'))
# (pip install 'regionkit[mainbox]'; models are local paths, nothing is downloaded.)
dataset = dict(type='image_folder', root=None)

detector = dict(type='yolo', model='checkpoints/yolov8n.pt', device='cpu', conf=0.25, iou=0.7, imgsz=640)

selectors = [
    dict(type='patch_matters_score_filter', input='detections', output='kept', threshold=0.3),
    dict(type='main_box_union', input='kept', output='main_box', top_classes=1),
]

writers = [dict(type='main_box', filename='main_box.json', main_box='main_box')]

runtime = dict(batch_size=4, num_workers=2, seed=0)
