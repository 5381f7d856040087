# YOLO (COCO classes) -> Patch Matters four boxes; `model` is a local .pt file or a model yaml.
_base_ = ['../_base_/patch_matters_divide.py']

detector = dict(type='yolo', model='checkpoints/yolov8n.pt', device='cpu', conf=0.25, iou=0.7, imgsz=640)
