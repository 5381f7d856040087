"""Built-in detectors: spectral-residual saliency, ultralytics YOLO, and hybrids of detectors."""
