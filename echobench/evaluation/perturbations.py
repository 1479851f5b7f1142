"""Versioned image perturbations of echo videos for the robustness track, three severities each
(EchoJEPA's benchmark has two perturbations; these cover the acquisition failures sonographers
name: depth attenuation, acoustic shadowing, speckle, gain, frame rate, compression, probe position).

Every perturbation maps ``(T, H, W, C)`` uint8 frames to frames of the same shape and dtype, is
deterministic per ``(seed, severity)`` (``numpy.random.default_rng((seed, id, severity))``), and
grows with severity in the image statistic it changes (tests in ``tests/evaluation/
test_perturbations.py``). Bump :data:`VERSION` for any change that can move a robustness score.

- ``depth``: attenuation ``exp(-a * depth)``, depth = row / H from the transducer at the top,
  ``a`` = 0.7, 1.4, 2.3 (about 6, 12, 20 dB of extra loss at the bottom).
- ``shadow``: an acoustic shadow, a wedge from the top centre (a rib or calcification) at a
  seeded angle, half-width 4, 8, 14 degrees, intensity x 0.15 below a seeded depth.
- ``speckle``: multiplicative unit-mean gamma noise per pixel and frame, sd 0.15, 0.3, 0.5.
- ``gain``: overall gain +-2, 4, 7 dB (sign seeded), clipped to [0, 255].
- ``fps``: acquisition at 2/3, 1/2, 1/3 of the frame rate, held to the original length
  (frame ``t`` shows source frame ``floor(floor(t f) / f)``).
- ``jpeg``: per-frame JPEG re-compression (Pillow), quality 40, 15, 5 (MJPEG AVIs are JPEG frames).
- ``zoom``: zoom about the centre by 1.1, 1.25, 1.45 plus a seeded shift of 2, 5, 9 px (probe
  position), bilinear (``scipy.ndimage.affine_transform``), zeros outside.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np

VERSION = "1"
SEVERITIES = (1, 2, 3)

Perturb = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def _check(video: np.ndarray) -> np.ndarray:
    v = np.asarray(video)
    if v.ndim != 4 or v.dtype != np.uint8:
        raise ValueError(f"video must be (T, H, W, C) uint8, got shape {v.shape} dtype {v.dtype}")
    return v


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def depth(video: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    a = (0.7, 1.4, 2.3)[severity - 1]
    h = video.shape[1]
    gain = np.exp(-a * np.arange(h, dtype=np.float32) / h)[None, :, None, None]
    return _to_uint8(video.astype(np.float32) * gain)


def shadow(video: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    half = math.radians((4.0, 8.0, 14.0)[severity - 1])
    _, h, w, _ = video.shape
    centre = rng.uniform(-0.35, 0.35)  # rad from vertical
    start = rng.uniform(0.15, 0.35) * h
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = np.arctan2(x - (w - 1) / 2, y + 1.0)
    inside = (np.abs(angle - centre) <= half) & (np.hypot(x - (w - 1) / 2, y) >= start)
    factor = np.where(inside, 0.15, 1.0).astype(np.float32)[None, :, :, None]
    return _to_uint8(video.astype(np.float32) * factor)


def speckle(video: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sd = (0.15, 0.3, 0.5)[severity - 1]
    k = 1.0 / (sd * sd)  # gamma(shape k, scale 1/k): mean 1, sd 1/sqrt(k)
    noise = rng.gamma(k, 1.0 / k, size=video.shape[:3]).astype(np.float32)[..., None]
    return _to_uint8(video.astype(np.float32) * noise)


def gain(video: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    db = (2.0, 4.0, 7.0)[severity - 1] * (1 if rng.random() < 0.5 else -1)
    return _to_uint8(video.astype(np.float32) * 10 ** (db / 20))


def fps(video: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    f = (2 / 3, 1 / 2, 1 / 3)[severity - 1]
    t = np.arange(video.shape[0])
    source = np.minimum(np.floor(np.floor(t * f + 1e-9) / f + 1e-9).astype(np.int64), video.shape[0] - 1)
    return video[source].copy()


def jpeg(video: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    quality = (40, 15, 5)[severity - 1]
    out = np.empty_like(video)
    for i, frame in enumerate(video):
        grey = frame.shape[-1] == 1
        image = Image.fromarray(frame[..., 0] if grey else frame)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("L" if grey else "RGB"))
        out[i] = decoded[..., None] if grey else decoded
    return out


def zoom(video: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    scale = (1.1, 1.25, 1.45)[severity - 1]
    shift = (2.0, 5.0, 9.0)[severity - 1]
    direction = rng.uniform(0, 2 * math.pi)
    _, h, w, _ = video.shape
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    offset = centre - centre / scale - shift * np.array([math.sin(direction), math.cos(direction)]) / scale
    out = np.empty_like(video)
    for i, frame in enumerate(video):
        for c in range(frame.shape[-1]):
            out[i, :, :, c] = _to_uint8(ndimage.affine_transform(frame[:, :, c].astype(np.float32), np.eye(2) / scale,
                                                                 offset=offset, order=1, cval=0.0))
    return out


PERTURBATIONS: dict[str, Perturb] = {"depth": depth, "shadow": shadow, "speckle": speckle, "gain": gain,
                                     "fps": fps, "jpeg": jpeg, "zoom": zoom}


def perturb(video: np.ndarray, name: str, severity: int, *, seed: int = 0) -> np.ndarray:
    """Apply perturbation ``name`` at ``severity`` (1-3) to ``video (T, H, W, C)`` uint8.

    Deterministic: the same ``(video, name, severity, seed)`` gives the same bytes.

    Raises:
        ValueError: unknown name, severity not in 1-3, or a video that is not ``(T, H, W, C)`` uint8.
    """
    if name not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {name!r}; known: {', '.join(PERTURBATIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity}")
    rng = np.random.default_rng((seed, list(PERTURBATIONS).index(name), severity))
    return PERTURBATIONS[name](_check(video), severity, rng)
