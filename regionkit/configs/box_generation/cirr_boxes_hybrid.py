# CIRR box file from YOLO, with saliency where YOLO finds nothing (the fork's hybrid recipe).
# YOLO with conf 0.3; images where it finds nothing fall back to OpenCV-contrib-style saliency with 2 regions.  The CIRR filter normalises YOLO
# boxes in float32 (as ultralytics' xyxyn) and the saliency boxes (label 'salient') with Python
# division, as the fork wrote them.
_base_ = ['../_base_/cirr_boxes.py']

detector = dict(
    type='hybrid',
    mode='fallback',
    detectors=[
        dict(type='yolo', model='checkpoints/yolov8n.pt', device='cpu', conf=0.3, iou=0.7, imgsz=640),
        dict(type='saliency', variant='opencv_contrib', max_regions=2, min_area_frac=0.01),
    ],
)

selectors = [
    dict(type='cirr_box_filter', input='detections', output='cirr', min_score=None, min_area_norm=0.01, max_boxes=5,
         float64_labels=['salient']),
]
