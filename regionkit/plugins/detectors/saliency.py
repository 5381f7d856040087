"""Spectral-residual saliency boxes (Hou & Zhang, CVPR 2007) without OpenCV.

The box recipe used by the CIRR region-loss code runs OpenCV-contrib's
``StaticSaliencySpectralResidual``, thresholds ``map * 255`` at 127 and takes the bounding
rectangles of the external contours.  :class:`SaliencyDetector` re-implements the same idea
with numpy, scipy and Pillow only, and scores every box so it fits the detector contract.

Pipeline, per image (``W x H`` pixels):

1. grey levels with ITU-R BT.601 luma weights (0.299 R + 0.587 G + 0.114 B), scaled to
   ``[0, 1]``; grayscale input is used as is, the alpha channel of RGBA input is dropped;
2. resize to ``resize_width`` x ``max(1, round(H * resize_width / W))`` (aspect ratio kept;
   see :meth:`SaliencyDetector.working_size` for very tall images) with Pillow's bilinear
   filter, which is antialiased when it shrinks;
3. 2-D FFT; ``L = log(amplitude)`` (amplitudes are floored at ``1e-6`` times their mean so
   exact spectral zeros do not give ``-inf``), ``P = phase``;
4. spectral residual ``R = L - mean3x3(L)``; the 3x3 mean wraps around the spectrum's edges
   because the spectrum is periodic;
5. saliency ``S = |IFFT(exp(R + i P))|^2``, blurred with a Gaussian of ``blur_sigma``
   pixels *of the working resolution* (``scipy.ndimage.gaussian_filter``, kernel truncated at
   4 sigma; 0 disables the blur).  Outside the image counts as zero, like the ``imfilter``
   default of the authors' reference code: the FFT treats the image as periodic, so the
   jump between opposite borders shows up as saliency along the edges and in the corners,
   and zero padding damps it;
6. min-max normalisation to ``[0, 1]``; a constant image (grey levels varying by at most
   ``1e-6`` at the working resolution) gives an all-zero map;
7. bilinear upsampling (Pillow) back to ``W x H``; this is :meth:`SaliencyDetector.saliency_map`;
8. pixels with saliency strictly above ``threshold`` form 8-connected components
   (``scipy.ndimage.label``), labelled at the **full** image resolution so boxes are exact
   pixel boxes: a component covering columns 10..19 gives ``x1 = 10, x2 = 20``;
9. each component's score is the mean saliency over its own pixels (so it lies in
   ``(threshold, 1]``); components whose bounding-box area is below ``min_area_frac`` of the
   image area are dropped; the rest are sorted by descending score (stable; ties: larger box
   first, then raster order of the component) and at most ``max_regions`` are kept.

Differences from OpenCV-contrib's implementation and the CIRR recipe, on purpose: the
working image keeps the aspect ratio (OpenCV squeezes it to 64x64); the squared magnitude is
blurred with a zero-padded Gaussian of ``blur_sigma`` and min-max normalised, as in the
paper's reference code (OpenCV blurs the magnitude with a 5x5, sigma-8 kernel with reflected
borders, squares it and divides by the maximum); ``threshold = 0.5`` stands for the recipe's
``map * 255 > 127`` (i.e. ``> 0.498``); boxes are ranked by mean saliency, not contour area,
and filtered by ``min_area_frac`` (the recipe keeps the 3 largest contours with area > 1%);
holes inside a component do not matter, as with OpenCV's ``RETR_EXTERNAL`` contours.

Cost: the spectrum work is bounded (a ``resize_width``-wide FFT, at most
``MAX_WORKING_ASPECT`` times as tall); the rest is linear in the pixel count because the
threshold and labelling run at full resolution (4-6 ms for a 512 x 512 image, 0.5 s for 12
megapixels on one CPU core).  Memory is bounded by the pixel count whatever the aspect
ratio.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

import numpy as np

from regionkit.kinds.detectors import BaseDetector
from regionkit.params import MaxLength, NonEmpty, Range, checked
from regionkit.structures.boxes import Boxes

__all__ = ["SaliencyDetector"]

_LUMA_601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_CONSTANT_TOL = 1e-6      # grey-level range (0..1 scale) at or below which an image is constant
_AMPLITUDE_FLOOR = 1e-6   # amplitudes are floored at this fraction of their mean before log
#: the working image is at most this many times taller than ``resize_width`` (bounded memory)
MAX_WORKING_ASPECT = 8


class SaliencyDetector(BaseDetector):
    """Spectral-residual saliency boxes (Hou & Zhang 2007); numpy/scipy only, no model, no OpenCV.

    Parameters (keyword only):

    variant:
        ``"spectral_residual"`` (default): regionkit's own pipeline, described in the module
        docstring.  ``"opencv_contrib"``: OpenCV-contrib's ``StaticSaliencySpectralResidual``
        box recipe of the CIRR box script, step for step in numpy/scipy
        (:mod:`regionkit.plugins.detectors.saliency_opencv`; proven box for box against
        OpenCV-contrib): its 64 x 64 working image, log-amplitude box filter, 5 x 5 Gaussian,
        ``map * 255 > 127`` on the uint8 map, external contours ranked by contour area and
        ``boundingRect`` boxes (integers).  There a box is kept if its normalised area,
        computed as the script did, is *greater than* ``min_area_frac``; its score is its
        contour area as a fraction of the image area (so score order is the recipe's contour
        order).  ``resize_width``, ``blur_sigma`` and ``threshold`` belong to the default
        variant and must be left unset with it.
    resize_width:
        Width in pixels of the working image the spectrum is computed on (>= 8; the height
        follows the aspect ratio, at least 1).  Default 64, as in OpenCV.
    blur_sigma:
        Standard deviation, in working-resolution pixels, of the Gaussian that smooths the
        raw saliency (>= 0; 0 disables it).  Default 2.5, about 4% of a 64-pixel width.
    threshold:
        Saliency level in ``(0, 1)``; pixels strictly above it are salient.  Default 0.5,
        mirroring the field's ``map * 255 > 127``.
    min_area_frac:
        Boxes covering less than this fraction of the image area are dropped (``[0, 1)``).
    max_regions:
        At most this many boxes per image (>= 1): the highest-scoring ones (the recipe's
        ``num_regions`` with ``opencv_contrib``; it uses 3).
    label_name:
        The label name of every box (the label id is always 0).

    The detector is deterministic and keeps no state between images.
    """

    #: CPU-only and stateless: the runner may detect in its worker processes, one copy each
    parallel_safe = True

    #: parameter sets for the conformance suite (``pytest --regionkit-conformance=regionkit``)
    conformance_params = [dict(), dict(variant="opencv_contrib", max_regions=3, min_area_frac=0.01)]

    @checked
    def __init__(
        self,
        *,
        variant: Literal["spectral_residual", "opencv_contrib"] = "spectral_residual",
        resize_width: Annotated[int, Range(8, 1024)] | None = None,
        blur_sigma: Annotated[float, Range(0.0, 64.0)] | None = None,
        threshold: Annotated[float, Range(0.0, 1.0, low_open=True, high_open=True)] | None = None,
        min_area_frac: Annotated[float, Range(0.0, 1.0, high_open=True)] = 0.001,
        max_regions: Annotated[int, Range(1, 1000)] = 5,
        label_name: Annotated[str, NonEmpty(), MaxLength(200)] = "salient",
    ) -> None:
        self.variant = variant
        if variant == "opencv_contrib":
            given = [n for n, v in (("resize_width", resize_width), ("blur_sigma", blur_sigma),
                                    ("threshold", threshold)) if v is not None]
            if given:
                raise ValueError(f"{', '.join(given)} belong(s) to variant='spectral_residual'; the opencv_contrib "
                                 f"variant has OpenCV's fixed 64x64 working size, 5x5 Gaussian and 127 threshold")
        self.resize_width = 64 if resize_width is None else resize_width
        self.blur_sigma = 2.5 if blur_sigma is None else blur_sigma
        self.threshold = 0.5 if threshold is None else threshold
        self.min_area_frac = min_area_frac
        self.max_regions = max_regions
        self.label_name = label_name

    def __repr__(self) -> str:
        if self.variant == "opencv_contrib":
            return (f"SaliencyDetector(variant='opencv_contrib', min_area_frac={self.min_area_frac}, "
                    f"max_regions={self.max_regions}, label_name={self.label_name!r})")
        return (f"SaliencyDetector(resize_width={self.resize_width}, blur_sigma={self.blur_sigma}, "
                f"threshold={self.threshold}, min_area_frac={self.min_area_frac}, "
                f"max_regions={self.max_regions}, label_name={self.label_name!r})")

    # ------------------------------------------------------------------ public API
    def detect(self, images: Sequence[np.ndarray]) -> list[Boxes]:
        """Boxes around the salient regions of each image, best first.

        ``images`` is a sequence (list, tuple, or an ``(N, H, W[, C])`` array) of ``uint8``
        arrays shaped ``(H, W, 3)`` (RGB), ``(H, W, 4)`` (RGBA; alpha ignored), ``(H, W)``
        or ``(H, W, 1)`` (grayscale).  Returns one :class:`Boxes` per image with
        ``image_size == (W, H)``, label 0 and scores in ``(threshold, 1]``, sorted by
        descending score; an image without salient regions gets empty boxes.
        """
        if isinstance(images, np.ndarray) and images.ndim < 4:
            raise ValueError(
                f"detect expects a sequence of images, got a single array of shape {images.shape}; "
                "wrap one image in a list")
        return [self._detect_one(image, index) for index, image in enumerate(images)]

    def saliency_map(self, image: np.ndarray) -> np.ndarray:
        """The ``(H, W)`` float32 saliency map of one image, with values in ``[0, 1]``.

        Accepts the same image layouts as :meth:`detect`.  A constant image gives zeros
        (with ``opencv_contrib``, OpenCV's own map: about 0.996 everywhere).
        """
        if self.variant == "opencv_contrib":
            from regionkit.plugins.detectors.saliency_opencv import opencv_saliency_map

            _to_gray(image)  # the same input checks as the default variant
            return opencv_saliency_map(image)
        return self._full_map(_to_gray(image))

    def working_size(self, width: int, height: int) -> tuple[int, int]:
        """The ``(width, height)`` the spectrum is computed at: ``resize_width`` wide, height by aspect ratio.

        For images taller than :data:`MAX_WORKING_ASPECT` times their width the height is
        capped at that many times ``resize_width`` (the width shrinks to keep the aspect
        ratio, but never below 1), so the working image, and the memory it takes, stays
        bounded whatever the image's shape.
        """
        work_w = self.resize_width
        work_h = max(1, round(height * work_w / width))
        cap = MAX_WORKING_ASPECT * self.resize_width
        if work_h > cap:
            work_h = cap
            work_w = max(1, round(width * cap / height))
        return work_w, work_h

    # ------------------------------------------------------------------ internals
    def _working_map(self, gray: np.ndarray) -> np.ndarray:
        """Normalised saliency at the working resolution (float64, values in [0, 1])."""
        from PIL import Image
        from scipy import ndimage

        height, width = gray.shape
        work_w, work_h = self.working_size(width, height)
        small = np.asarray(
            Image.fromarray(gray).resize((work_w, work_h), _bilinear(Image)),
            dtype=np.float64)
        if float(np.ptp(gray)) == 0.0 or float(np.ptp(small)) <= _CONSTANT_TOL:
            return np.zeros((work_h, work_w), dtype=np.float64)

        spectrum = np.fft.fft2(small)
        amplitude = np.abs(spectrum)
        phase = np.angle(spectrum)
        log_amplitude = np.log(np.maximum(amplitude, _AMPLITUDE_FLOOR * amplitude.mean()))
        residual = log_amplitude - ndimage.uniform_filter(log_amplitude, size=3, mode="wrap")
        saliency = np.abs(np.fft.ifft2(np.exp(residual + 1j * phase))) ** 2
        if self.blur_sigma > 0:
            # zero padding, as in Hou & Zhang's reference code (MATLAB imfilter's default):
            # it damps the bright borders the FFT's wrap-around edges would otherwise give
            saliency = ndimage.gaussian_filter(saliency, sigma=self.blur_sigma, mode="constant",
                                               cval=0.0)

        low, high = float(saliency.min()), float(saliency.max())
        span = high - low
        if not np.isfinite(span) or span <= 1e-12 * max(abs(high), 1e-300):
            return np.zeros_like(saliency)
        return (saliency - low) / span

    def _full_map(self, gray: np.ndarray) -> np.ndarray:
        from PIL import Image

        height, width = gray.shape
        small = self._working_map(gray)
        if not small.any():
            return np.zeros((height, width), dtype=np.float32)
        full = Image.fromarray(small.astype(np.float32)).resize(
            (width, height), _bilinear(Image))
        return np.clip(np.asarray(full, dtype=np.float32), 0.0, 1.0)

    def _detect_opencv(self, image: np.ndarray, index: int) -> Boxes:
        from regionkit.plugins.detectors.saliency_opencv import saliency_regions

        _to_gray(image, index)  # the same input checks as the default variant
        height, width = image.shape[:2]
        size = (width, height)
        kept = []
        for area, (x1, y1, x2, y2) in saliency_regions(image, self.max_regions):
            if (x2 / width - x1 / width) * (y2 / height - y1 / height) > self.min_area_frac:
                kept.append((min(max(area / (width * height), 0.0), 1.0), (x1, y1, x2, y2)))
        if not kept:
            return Boxes.empty(size)
        n = len(kept)
        return Boxes.create([box for _, box in kept], size, scores=[score for score, _ in kept],
                            labels=np.zeros(n, dtype=np.int64), label_names=(self.label_name,) * n)

    def _detect_one(self, image: np.ndarray, index: int) -> Boxes:
        from scipy import ndimage

        if self.variant == "opencv_contrib":
            return self._detect_opencv(image, index)
        gray = _to_gray(image, index)
        height, width = gray.shape
        size = (width, height)
        saliency = self._full_map(gray)
        mask = saliency > self.threshold
        if not mask.any():
            return Boxes.empty(size)

        labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
        slices = ndimage.find_objects(labels)
        # per-component pixel counts and saliency sums, over the salient pixels only
        ids = labels[mask]
        pixel_counts = np.bincount(ids, minlength=count + 1)[1:]
        sums = np.bincount(ids, weights=saliency[mask].astype(np.float64), minlength=count + 1)[1:]
        scores = sums / pixel_counts
        xyxy = np.array([[sl[1].start, sl[0].start, sl[1].stop, sl[0].stop] for sl in slices],
                        dtype=np.float64)
        areas = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])

        keep = areas >= self.min_area_frac * float(width * height)
        xyxy, scores, areas = xyxy[keep], scores[keep], areas[keep]
        if len(xyxy) == 0:
            return Boxes.empty(size)
        # lexsort is stable and sorts by its last key first: score desc, then area desc,
        # then component (raster) order.
        order = np.lexsort((-areas, -scores))[: self.max_regions]
        n = len(order)
        return Boxes.create(
            xyxy[order], size, scores=np.clip(scores[order], 0.0, 1.0),
            labels=np.zeros(n, dtype=np.int64), label_names=(self.label_name,) * n)


def _bilinear(image_module):
    """Pillow's bilinear filter constant (``Image.Resampling`` appeared in Pillow 9.1)."""
    return getattr(image_module, "Resampling", image_module).BILINEAR


def _to_gray(image: object, index: int | None = None) -> np.ndarray:
    """Validate one image and return its float32 (H, W) grey levels in [0, 1]."""
    where = "image" if index is None else f"image {index}"
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{where}: expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{where}: expected dtype uint8, got {image.dtype}; "
                         "convert to 8-bit (0..255) first")
    if image.ndim == 3 and image.shape[2] in (1, 3, 4):
        channels = image.shape[2]
    elif image.ndim == 2:
        channels = 0
    else:
        raise ValueError(f"{where}: expected shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
                         f"got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{where}: empty image of shape {image.shape}")
    if channels in (0, 1):
        plane = image if channels == 0 else image[:, :, 0]
        return plane * np.float32(1.0 / 255.0)
    # channel by channel: a (H, W, 3) float copy and a matmul are several times slower
    weights = _LUMA_601 / np.float32(255.0)
    gray = image[:, :, 0] * weights[0]
    gray += image[:, :, 1] * weights[1]
    gray += image[:, :, 2] * weights[2]
    return gray
