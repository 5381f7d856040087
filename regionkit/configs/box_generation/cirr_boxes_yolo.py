# CIRR box file from YOLO (the fork's --method yolo; needs local YOLO weights).
# Ultralytics predict defaults (conf 0.25, iou 0.7, imgsz 640), then the
# fork's filter keeps conf >= 0.3.  `model` must be a local file (nothing is downloaded):
# get yolov8n.pt from the Ultralytics releases, or build a random model with model='yolo11n.yaml'.
_base_ = ['../_base_/cirr_boxes.py']

detector = dict(type='yolo', model='checkpoints/yolov8n.pt', device='cpu', conf=0.25, iou=0.7, imgsz=640)

selectors = [
    dict(type='cirr_box_filter', input='detections', output='cirr', min_score=0.3, min_area_norm=0.01, max_boxes=5),
]
