"""Detectors of the sample plugin."""

from regionkit import BaseDetector, Boxes


class CenterBoxDetector(BaseDetector):
    """One box covering the central `fraction` of the image (a deterministic toy detector)."""

    def __init__(self, fraction: float = 0.5, score: float = 0.9) -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        self.fraction = fraction
        self.score = score

    def detect(self, images):
        out = []
        for image in images:
            h, w = image.shape[:2]
            mx, my = w * (1 - self.fraction) / 2, h * (1 - self.fraction) / 2
            out.append(Boxes.create([[mx, my, w - mx, h - my]], (w, h), scores=[self.score],
                                    labels=[0], label_names=["center"]))
        return out
