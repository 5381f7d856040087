"""OpenCV-contrib's spectral-residual saliency boxes, step for step in numpy/scipy (the ``opencv_contrib`` variant).

This reproduces, without OpenCV, the box recipe of the CIRR box script
``aizhao/SPRC-  roi_align_integration/tools/generate_cirr_boxes.py``
(``detect_with_saliency``)::

    img = cv2.imread(path)                                  # BGR uint8
    ok, m = cv2.saliency.StaticSaliencySpectralResidual_create().computeSaliency(img)
    binary = cv2.threshold((m * 255).astype(np.uint8), 127, 255, cv2.THRESH_BINARY)[1]
    contours = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
    contours = sorted(contours, key=cv2.contourArea, reverse=True)[:num_regions]
    x, y, w, h = cv2.boundingRect(c)  ->  keep if (x2n - x1n) * (y2n - y1n) > 0.01

Every step follows the OpenCV-contrib source (staticSaliencySpectralResidual
.cpp) and the measured arithmetic of the x86-64 opencv-contrib-python-headless
wheels 5.0.0 / 4.14.0 (some primitives go through Intel IPP and FMA kernels):
on the reference photographs the map is bit-identical and so are the binary
mask, the contours and the boxes.  Run time needs only numpy and scipy.

Input is RGB uint8 (H, W, 3) - the channel order regionkit uses; the script
read BGR with cv2.imread, which is accounted for in the grey conversion.
Grey (H, W) / (H, W, 1) input is taken as is (OpenCV's 1-channel path, the
same numbers as R = G = B), RGBA drops alpha (as imread(IMREAD_COLOR)).

Public API
----------
``opencv_saliency_map(rgb)``    float32 HxW map, as ``computeSaliency`` returns.
``saliency_regions(rgb)``       ``(contour area, (x1, y1, x2, y2))`` of the contours, largest first.
``opencv_saliency_boxes(rgb)``  pixel boxes ``(x1, y1, x2, y2)`` (x2 = x + w) as the recipe keeps them.

Proven against ``opencv-contrib-python-headless`` 5.0.0.93 (and 4.14, 4.9, 4.6) on 77
photographs of many sizes and aspect ratios, and 3,000 random crops: every box identical
(``tests/plugins/detectors/test_saliency_opencv.py``; the reference JSON and the script that
regenerates it live beside that test).  The reference was made with x86-64 wheels; OpenCV
itself rounds differently on other platforms in places.  Memory is bounded by the pixel
count (the full-size steps run in row strips).
"""
from __future__ import annotations

from typing import Any, cast

import numpy as np
from scipy import ndimage

ArrayOrScalar = Any  # numpy arrays and float32 scalars alike

__all__ = ["opencv_saliency_map", "opencv_saliency_boxes", "saliency_regions", "saliency_binary", "external_regions",
           "small_saliency_map"]

#: working size of StaticSaliencySpectralResidual (resImWidth/resImHeight)
WORK_SIZE = 64
#: 3x3 mean filter applied to the log amplitude spectrum
BOX_SIZE = 3
#: Gaussian applied to the reconstructed magnitude: 5x5, sigma 8
GAUSS_SIZE = 5
GAUSS_SIGMA = 8.0
#: BGR->grey coefficients of the IPP path (15 fractional bits, sum 32768):
#: Y = (3735*B + 19235*G + 9798*R + 16384) >> 15.  OpenCV's own (non-IPP)
#: kernel uses (1868, 9617, 4899) >> 14; the x86-64 wheels take the IPP path.
GRAY_COEFFS_Q15 = (9798, 19235, 3735)  # (R, G, B)

_F32 = np.float32
_ROW_CHUNK_PIXELS = 1 << 20  # pixels per strip for the full-size steps


# ---------------------------------------------------------------- helpers

def _fma32(a: ArrayOrScalar, b: ArrayOrScalar, c: ArrayOrScalar) -> np.ndarray:
    """float32 fused multiply-add a*b+c (one rounding), emulated in float64.

    The product of two float32 values is exact in float64; the sum is rounded
    once in float64 and then to float32 (a double rounding that can differ
    from a true FMA only when the float64 sum lands exactly on a float32
    rounding midpoint - practically never)."""
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64)
            + np.asarray(c, np.float64)).astype(np.float32)


def _check_image(img: np.ndarray) -> np.ndarray:
    """Validate an RGB (H,W,3), RGBA (H,W,4) or grey (H,W)/(H,W,1) uint8 image."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {a.dtype}")
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (1, 3, 4))):
        raise ValueError(f"expected (H,W), (H,W,1), (H,W,3) or (H,W,4), got {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError("empty image")
    return a


def _to_gray(a: np.ndarray) -> np.ndarray:
    """RGB / RGBA (alpha ignored) / grey uint8 -> grey uint8, as
    cvtColor(BGR2GRAY) of the BGR image (grey input passes through, which is
    also what the colour formula gives for R = G = B)."""
    if a.ndim == 2:
        return a
    if a.shape[2] == 1:
        return a[:, :, 0]
    cr, cg, cb = GRAY_COEFFS_Q15
    # explicit uint32 arrays: no reliance on numpy's scalar promotion rules
    acc = a[:, :, 0].astype(np.uint32)
    acc *= np.uint32(cr)
    acc += a[:, :, 1].astype(np.uint32) * np.uint32(cg)
    acc += a[:, :, 2].astype(np.uint32) * np.uint32(cb)
    acc += np.uint32(1 << 14)
    acc >>= np.uint32(15)
    return acc.astype(np.uint8)


def _linear_exact_axis(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Taps of OpenCV's bit-exact linear resize along one axis.

    Source position f = (i + 0.5) * (src/dst) - 0.5 in float64 (with
    src/dst computed as 1 / (dst/src)); weight of the right tap is
    round_half_even(frac(f) * 256), the left gets 256 minus that.  Positions
    left of the first / right of the last pixel replicate the edge pixel.
    Returns (i0, i1, w1) with weights in 1/256."""
    scale = 1.0 / (dst / src)
    f = (np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5
    i0 = np.floor(f).astype(np.int64)
    w1 = np.rint((f - i0) * 256.0).astype(np.int64)
    edge = (i0 < 0) | (i0 >= src - 1)
    i0 = np.where(i0 < 0, 0, np.where(i0 >= src - 1, src - 1, i0))
    w1[edge] = 0
    i1 = np.minimum(i0 + 1, src - 1)
    return i0, i1, w1


def _work_image(img: np.ndarray) -> np.ndarray:
    """Grey 64x64 uint8 working image: cvtColor(BGR2GRAY) then
    resize(INTER_LINEAR_EXACT) to WORK_SIZE x WORK_SIZE.

    The bit-exact linear resize: horizontal pass in 8-bit fixed point,
    vertical pass to 16 fractional bits, then (v + 2**15) >> 16 (the exact-2x
    case that OpenCV hands to INTER_AREA gives the same numbers; an image
    already 64x64 is copied).  Only the <= 128 source rows and columns that
    the taps touch are gathered and converted to grey."""
    a = _check_image(img)
    h, w = a.shape[:2]
    dw = dh = WORK_SIZE
    if (h, w) == (dh, dw):
        return _to_gray(a)
    x0, x1, wx = _linear_exact_axis(w, dw)
    y0, y1, wy = _linear_exact_axis(h, dh)
    rows, yi = np.unique(np.concatenate([y0, y1]), return_inverse=True)
    cols, xi = np.unique(np.concatenate([x0, x1]), return_inverse=True)
    sub = _to_gray(a[rows][:, cols]).astype(np.int64)
    hor = sub[:, xi[:dw]] * (256 - wx) + sub[:, xi[dw:]] * wx
    ver = hor[yi[:dh]] * (256 - wy)[:, None] + hor[yi[dh:]] * wy[:, None]
    return np.clip((ver + (1 << 15)) >> 16, 0, 255).astype(np.uint8)


# fastAtan2 polynomial (degrees), as float32 constants
_R2D = _F32(180.0 / np.pi)
_P1 = _F32(0.9997878412794807 * _R2D)
_P3 = _F32(-0.3258083974640975 * _R2D)
_P5 = _F32(0.1555786518463281 * _R2D)
_P7 = _F32(-0.04432655554792128 * _R2D)
_DEG2RAD = _F32(np.pi / 180.0)
_ATAN_EPS = _F32(np.finfo(np.float64).eps)


def _cart_to_polar(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cv2.cartToPolar on float64 input, as the wheels compute it.

    The inputs are rounded to float32; magnitude = sqrt(fma(x, x, y*y)) and
    the angle is OpenCV's fastAtan2 7th-order polynomial (FMA evaluation),
    in radians, in [0, 2*pi).  Both are returned as float64 holding float32
    values, like the CV_64F outputs."""
    xf = x.astype(np.float32)
    yf = y.astype(np.float32)
    mag = np.sqrt(_fma32(xf, xf, yf * yf))
    ax = np.abs(xf)
    ay = np.abs(yf)
    c = np.minimum(ax, ay) / (np.maximum(ax, ay) + _ATAN_EPS)
    cc = c * c
    a = _fma32(_fma32(_fma32(cc, _P7, _P5), cc, _P3), cc, _P1) * c
    a = np.where(ax >= ay, a, _F32(90.0) - a)
    a = np.where(xf < 0, _F32(180.0) - a, a)
    a = np.where(yf < 0, _F32(360.0) - a, a)
    ang = (a * _DEG2RAD).astype(np.float32)
    return mag.astype(np.float64), ang.astype(np.float64)


def _reflect101_pad(a: np.ndarray, r: int) -> np.ndarray:
    """BORDER_REFLECT_101 (BORDER_DEFAULT) padding by r on both axes."""
    return np.pad(a, r, mode="reflect")  # numpy 'reflect' == gfedcb|abcdefgh|gfedcba


def _sep_filter(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Separable correlation (rows, then columns) with reflect-101 border."""
    r = len(k) // 2
    h, w = a.shape
    p = _reflect101_pad(a, r)
    rows = cast(np.ndarray, sum(k[i] * p[:, i:i + w] for i in range(len(k))))
    return cast(np.ndarray, sum(k[i] * rows[i:i + h, :] for i in range(len(k))))


def _gaussian_kernel(n: int, sigma: float) -> np.ndarray:
    """getGaussianKernel(n, sigma, CV_64F): exp(-x^2 / (2 sigma^2)), sum 1."""
    x = np.arange(n, dtype=np.float64) - (n - 1) * 0.5
    t = np.exp((-0.5 / (sigma * sigma)) * x * x)
    return t * (1.0 / t.sum())


def _box_blur(a: np.ndarray, n: int) -> np.ndarray:
    """blur(a, (n, n)) = normalised box filter, reflect-101 border."""
    r = n // 2
    h, w = a.shape
    p = _reflect101_pad(a, r)
    rows = cast(np.ndarray, sum(p[:, i:i + w] for i in range(n)))  # 0 + p0 + p1 + ...: OpenCV's order
    cols = cast(np.ndarray, sum(rows[i:i + h, :] for i in range(n)))
    return cols * (1.0 / (n * n))


def small_saliency_map(img: np.ndarray) -> np.ndarray:
    """The 64x64 float32 spectral-residual map (before the final resize) of
    an RGB / grey uint8 image."""
    g = _work_image(img).astype(np.float64)
    spec = np.fft.fft2(g)
    mag, ang = _cart_to_polar(spec.real, spec.imag)
    log_amp = np.log(mag + 1.0)
    residual = np.exp(log_amp - _box_blur(log_amp, BOX_SIZE))
    rec = np.fft.ifft2(residual * np.cos(ang) + 1j * (residual * np.sin(ang)),
                       norm="forward")  # unscaled inverse, like DFT_INVERSE
    m, _ = _cart_to_polar(rec.real, rec.imag)
    m = _sep_filter(m, _gaussian_kernel(GAUSS_SIZE, GAUSS_SIGMA))
    m = m * m
    mx = m.max()
    with np.errstate(invalid="ignore", divide="ignore"):
        m = m / mx
    return m.astype(np.float32)


def _linear_f32_axis(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Taps of the float INTER_LINEAR resize (IPP path): f = (i+0.5)*scale-0.5
    in float64, t = float32(frac(f)), edge positions clamped (t = 0)."""
    scale = 1.0 / (dst / src)
    f = (np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5
    i0 = np.floor(f).astype(np.int64)
    t = (f - i0).astype(np.float32)
    edge = (i0 < 0) | (i0 >= src - 1)
    i0 = np.where(i0 < 0, 0, np.where(i0 >= src - 1, src - 1, i0))
    t[edge] = 0
    return i0, np.minimum(i0 + 1, src - 1), t


class _MapResizer:
    """Resize of the 64x64 float32 map to (H, W), produced in row strips.

    Each output is lerp(a, b, t) = fma(b - a, t, a) in float32, horizontal
    pass first, then vertical - the arithmetic of the wheels' float
    INTER_LINEAR(_EXACT) kernel (IPP, FMA); the same formula holds for an
    exact 2x reduction (32x32 images), no INTER_AREA switch."""

    def __init__(self, small: np.ndarray, w: int, h: int):
        sh, sw = small.shape
        self.small = small
        self.copy = (sh, sw) == (h, w)
        if self.copy:
            return
        y0, y1, self.ty = _linear_f32_axis(sh, h)
        # horizontal pass only on the source rows the vertical taps use
        # (<= 2*h of them, so memory stays O(h*w) even for h < 64)
        used, inv = np.unique(np.concatenate([y0, y1]), return_inverse=True)
        x0, x1, tx = _linear_f32_axis(sw, w)
        hor = np.empty((len(used), w), dtype=np.float32)
        for r, src in enumerate(small[used]):          # <= 64 rows, vectorised over w
            a = src[x0]
            hor[r] = _fma32(src[x1] - a, tx, a)
        self.j0, self.j1 = inv[:h], inv[h:]
        # per output row: lerp(hor[j0], hor[j1], t) = float32(A + t * D) with
        # A = hor[j0], D = float32(hor[j1] - hor[j0]), evaluated in float64
        # (exact product, one rounding) - an FMA
        self.hor = hor

    def rows(self, r0: int, r1: int) -> np.ndarray:
        """Output rows [r0, r1) as float32."""
        if self.copy:
            return self.small[r0:r1].copy()
        out = np.empty((r1 - r0, self.hor.shape[1]), dtype=np.float32)
        j0, j1 = self.j0[r0:r1], self.j1[r0:r1]
        # runs of output rows that share the same source-row pair
        starts = np.flatnonzero(np.concatenate(
            [[True], (j0[1:] != j0[:-1]) | (j1[1:] != j1[:-1])]))
        ends = np.append(starts[1:], len(j0))
        for s0, s1 in zip(starts, ends):
            a = self.hor[j0[s0]]
            d = (self.hor[j1[s0]] - a).astype(np.float64)
            t = self.ty[r0 + s0:r0 + s1].astype(np.float64)[:, None]
            out[s0:s1] = t * d + a
        return out


def _threshold_value() -> np.float32:
    """Smallest float32 v with float32(v * 255) >= 128.

    (map * 255).astype(uint8) > 127 holds iff the float32 product is >= 128
    (astype truncates; NaN gives 0); the product is monotonic in v, so the
    test is v >= this constant."""
    v = _F32(128.0) / _F32(255.0)
    while v * _F32(255.0) >= _F32(128.0):
        v = np.nextafter(v, _F32(0.0))
    while not v * _F32(255.0) >= _F32(128.0):
        v = np.nextafter(v, _F32(1.0))
    return v


_THRESH = _threshold_value()


def opencv_saliency_map(rgb: np.ndarray) -> np.ndarray:
    """Saliency map as ``StaticSaliencySpectralResidual.computeSaliency``
    returns it for the BGR image ``rgb[..., ::-1]``: float32 (H, W)."""
    a = _check_image(rgb)
    h, w = a.shape[:2]
    return _MapResizer(small_saliency_map(a), w, h).rows(0, h)


def saliency_binary(rgb: np.ndarray) -> np.ndarray:
    """Boolean mask of ``threshold((map * 255).astype(uint8), 127, 255)``,
    built in row strips without holding the full float map."""
    a = _check_image(rgb)
    h, w = a.shape[:2]
    rs = _MapResizer(small_saliency_map(a), w, h)
    out = np.empty((h, w), dtype=bool)
    step = max(1, _ROW_CHUNK_PIXELS // w)
    for r0 in range(0, h, step):
        r1 = min(h, r0 + step)
        np.greater_equal(rs.rows(r0, r1), _THRESH, out=out[r0:r1])
    return out


# ------------------------------------------------------------- contours

_EIGHT = np.ones((3, 3), dtype=bool)


def external_regions(fg: np.ndarray) -> list[tuple[float, int, int, int, int]]:
    """External contours of a binary image, as findContours(RETR_EXTERNAL).

    Returns, in findContours' output order, (area, x, y, w, h) per contour:
    area = cv2.contourArea of the contour polygon, (x, y, w, h) =
    cv2.boundingRect.

    Method (vectorised, O(pixels)): the image is framed by background (as
    findContours does).  The outer background is the 4-connected background
    component touching the frame; everything else is "filled" (foreground
    plus holes plus whatever lies in holes).  Each 8-connected component of
    the filled set is the region enclosed by one external contour.  The
    contour is a closed walk through pixel centres; by Pick's theorem, for a
    walk that is a tree of simple loops, area = F - M/2 - 1 with F the filled
    pixel count and M the number of unit (4- or 8-neighbour) moves of the
    walk.  M is counted on the 2x2 pixel windows along the boundary: a window
    with 2 side-by-side filled pixels is one straight move, 3 filled is one
    diagonal move around a concave corner, 2 diagonal filled pixels are two
    diagonal moves (the walk passes that corner twice), 1 or 4 are none.
    The bounding box of the contour is that of the filled region.
    findContours finds contours in raster order of their top-left pixel and
    returns them last-found first."""
    rows_on = np.flatnonzero(fg.any(axis=1))
    if rows_on.size == 0:
        return []
    cols_on = np.flatnonzero(fg[rows_on[0]:rows_on[-1] + 1].any(axis=0))
    # work on the bounding box of the foreground plus a 1-px background frame
    # (everything outside it is background connected to the image border)
    oy, ox = int(rows_on[0]), int(cols_on[0])
    sub = fg[oy:rows_on[-1] + 1, ox:cols_on[-1] + 1]
    pad = np.zeros((sub.shape[0] + 2, sub.shape[1] + 2), dtype=bool)
    pad[1:-1, 1:-1] = sub
    bg_lab, _ = ndimage.label(~pad)              # 4-connected background
    filled = bg_lab != bg_lab[0, 0]
    del bg_lab
    lab, n = ndimage.label(filled, structure=_EIGHT)
    del filled
    if n == 0:
        return []
    fill_count = np.bincount(lab[lab > 0], minlength=n + 1).astype(np.int64)
    moves = np.zeros(n + 1, dtype=np.int64)
    H = lab.shape[0]
    step = max(1, _ROW_CHUNK_PIXELS // lab.shape[1])
    for r0 in range(0, H - 1, step):
        r1 = min(H - 1, r0 + step)
        a = lab[r0:r1, :-1]
        b = lab[r0:r1, 1:]
        c = lab[r0 + 1:r1 + 1, :-1]
        d = lab[r0 + 1:r1 + 1, 1:]
        na, nb, nc, nd = a > 0, b > 0, c > 0, d > 0
        cnt = na.astype(np.int8) + nb + nc + nd
        sel = (cnt == 2) | (cnt == 3)
        if not sel.any():
            continue
        which = np.maximum(np.maximum(a[sel], b[sel]), np.maximum(c[sel], d[sel]))
        diag = (cnt[sel] == 2) & (na[sel] == nd[sel])
        moves += np.bincount(which, weights=1 + diag, minlength=n + 1).astype(np.int64)
    area = fill_count - moves / 2.0 - 1.0
    objs = ndimage.find_objects(lab)
    regions = []
    for k, sl in enumerate(objs, start=1):
        ys, xs = sl
        # top-left pixel: first filled pixel of the first row of the box
        first_row = lab[ys.start, xs]
        x_first = xs.start + int(np.argmax(first_row == k))
        regions.append(((ys.start, x_first), float(area[k]),
                        xs.start - 1 + ox, ys.start - 1 + oy,
                        xs.stop - xs.start, ys.stop - ys.start))
    regions.sort(key=lambda r: r[0], reverse=True)   # last found first
    return [r[1:] for r in regions]


def saliency_regions(rgb: np.ndarray, num_regions: int = 3) -> list[tuple[float, tuple[int, int, int, int]]]:
    """The ``num_regions`` largest external contours as ``(contourArea, (x1, y1, x2, y2))``, largest first.

    Sorted by contour area, descending (stable: ties keep ``findContours``' order); the box is
    the bounding rect ``(x, y, w, h)`` as ``(x, y, x + w, y + h)`` in pixels.
    """
    fg = saliency_binary(rgb)
    regions = sorted(external_regions(fg), key=lambda r: r[0], reverse=True)[:num_regions]
    return [(float(area), (int(x), int(y), int(x + bw), int(y + bh))) for area, x, y, bw, bh in regions]


def opencv_saliency_boxes(rgb: np.ndarray, num_regions: int = 3,
                          min_area_norm: float = 0.01) -> list[tuple[int, int, int, int]]:
    """Saliency boxes of the CIRR recipe, as pixel (x1, y1, x2, y2).

    :func:`saliency_regions`, each kept only if ``(x2/W - x1/W) * (y2/H - y1/H) >
    min_area_norm``, computed in Python floats exactly as the script does.
    """
    h, w = _check_image(rgb).shape[:2]
    return [box for _, box in saliency_regions(rgb, num_regions) if _area_norm(box, w, h) > min_area_norm]


def _area_norm(box: tuple[int, int, int, int], w: int, h: int) -> float:
    x1, y1, x2, y2 = box
    return (x2 / w - x1 / w) * (y2 / h - y1 / h)
