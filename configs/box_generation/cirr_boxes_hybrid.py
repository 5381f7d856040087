# Hybrid boxes for CIRR (the fork's recipe): YOLO with conf 0.3; images where it finds
# nothing fall back to saliency with 2 regions.  Then the usual CIRR filter.
_base_ = ['../_base_/cirr_boxes.py']

detector = dict(
    type='hybrid',
    mode='fallback',
    detectors=[
        dict(type='yolo', model='checkpoints/yolov8n.pt', device='cpu', conf=0.3, iou=0.7, imgsz=640),
        dict(type='saliency', threshold=0.5, max_regions=2),
    ],
)
