"""Where the ultrasound image is inside an echo frame: the live pixels, their bounding box, and the
scan sector ("fan") as a pixel mask.

Scanners draw text (probe, frequency, heart rate, sometimes patient details), scales, ECG traces and
markers on the frame, also inside the header's rectangular ultrasound region. The sector itself is
where intensity varies over the loop (speckle, moving tissue); burnt-in text and overlays are static.
EchoNet-Dynamic's preprocessing likewise keeps only the scan sector (echonet/dynamic,
``scripts/ConvertDICOMToAVI.ipynb``, which masks everything outside it).

All functions take ``(T, H, W, 3)`` or ``(T, H, W)`` uint8 frames and return boxes as half-open
``(x0, y0, x1, y1)`` pixels, masks as ``(H, W)`` bool (True = kept).
"""

from __future__ import annotations

import numpy as np

Box = tuple[int, int, int, int]

#: A pixel is live when some channel changes by more than this (of 255) over the loop.
LIVE_THRESHOLD = 10
#: A fan smaller than this share of the box it is searched in is not trusted (None is returned).
MIN_FAN_FRACTION = 0.05


def live_pixels(frames: np.ndarray, *, threshold: int = LIVE_THRESHOLD) -> np.ndarray:
    """``(H, W)`` bool: pixels whose value changes by more than ``threshold`` in some channel over
    the loop (the temporal range, max - min, of each channel; ``(T, H, W[, 3])`` uint8 in). A single
    frame has no temporal range: then "brighter than ``threshold``"."""
    frames = np.asarray(frames)
    if len(frames) > 1:
        spread = np.ptp(frames, axis=0)  # contiguous over T: far faster than a channel max first
    else:
        spread = frames[0]
    spread = spread.max(axis=-1) if spread.ndim == 3 else spread
    return spread > threshold


def estimate_sector_box(frames: np.ndarray, *, threshold: int = LIVE_THRESHOLD, min_fraction: float = 0.01) -> Box:
    """Estimate the imaging sector's bounding box when the header has no (usable) ultrasound region.

    The box spans the rows and columns in which at least ``min_fraction`` of the pixels are live
    (:func:`live_pixels`; a loop with no live pixel falls back to "brighter than ``threshold``"),
    which ignores isolated flicker. Moving ECG traces are live too and may widen the box; prefer the
    header region when present. Returns the whole image if nothing is live.
    """
    frames = np.asarray(frames)
    height, width = frames.shape[1:3]
    mask = live_pixels(frames, threshold=threshold)
    if not mask.any():
        mask = live_pixels(frames.max(axis=0, keepdims=True), threshold=threshold)  # brightest over time
    rows = np.flatnonzero(mask.mean(axis=1) >= min_fraction)
    cols = np.flatnonzero(mask.mean(axis=0) >= min_fraction)
    if len(rows) == 0 or len(cols) == 0:
        return (0, 0, width, height)
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def estimate_fan_mask(frames: np.ndarray, box: Box, *, threshold: int = LIVE_THRESHOLD,
                      min_fraction: float = MIN_FAN_FRACTION, opening: int = 2) -> np.ndarray | None:
    """The scan sector inside ``box`` as an ``(H, W)`` bool mask, or None when no sector is found.

    Steps: :func:`live_pixels` inside ``box``; a binary opening (3x3, ``opening`` times: 2 for full-size
    frames; 1 for frames decoded at 1/2 size or less, the nearest in source pixels) removes thin moving
    lines and isolated flicker (ECG trace, a changing digit's strokes); the largest connected live component
    is the sector; its convex hull (a sector of a circle is convex) fills the dark, static parts inside
    it (blood pool, far field). Static text, scales and markers outside the hull are outside the mask.
    None when the loop has a single frame (nothing varies) or the component covers less than
    ``min_fraction`` of the box.
    """
    from scipy import ndimage
    from scipy.spatial import ConvexHull, QhullError

    frames = np.asarray(frames)
    height, width = frames.shape[1:3]
    x0, y0, x1, y1 = box
    if len(frames) < 2 or x1 <= x0 or y1 <= y0:
        return None
    live = live_pixels(frames[:, y0:y1, x0:x1], threshold=threshold)
    live = ndimage.binary_opening(live, np.ones((3, 3), bool), iterations=opening)
    labels, count = ndimage.label(live)
    if count == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    if sizes.max() < min_fraction * live.size:
        return None
    rows, cols = np.nonzero(labels == 1 + int(sizes.argmax()))
    try:
        hull = ConvexHull(np.stack([cols, rows], axis=1).astype(np.float64))
    except QhullError:  # all on one line: no area
        return None
    # Only the component's bounding box can be inside: the equations are unit normals, so a pixel a
    # whole pixel outside that box is farther than the half-pixel tolerance from the hull.
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    yy, xx = np.arange(top, bottom)[:, None], np.arange(left, right)[None, :]
    inside = np.ones((bottom - top, right - left), bool)
    for a, b, c in hull.equations:  # a x + b y + c <= 0 inside; half a pixel keeps the hull's own pixels
        inside &= a * xx + b * yy + c <= 0.5
    mask = np.zeros((height, width), bool)
    mask[y0 + top : y0 + bottom, x0 + left : x0 + right] = inside
    return mask
