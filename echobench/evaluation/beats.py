"""Beat-level evaluation without a trained model (track :data:`~echobench.evaluation.tracks.BEATS`):
find each video's cardiac cycles from the blood pool's intensity, predict one clip per beat and
average per video, as EchoNet-Dynamic's beat-to-beat EF (Ouyang et al., Nature 2020, "beat-to-beat
assessment"; there the beats come from the LV segmentation's size curve, ``echonet/utils/
segmentation.py``, ``scipy.signal.find_peaks``).

Detection (:func:`detect_beats`), per video of ``(T, H, W[, C])`` uint8 frames:

1. Spatially smoothed grey frames (Gaussian, sigma 2 px, suppresses speckle). The sector is where
   any frame is brighter than 10 % of the video's maximum. Blood pools are the sector pixels darker
   than half the sector's median brightness in at least 20 % of the frames; the *central* pool is
   the connected component (``scipy.ndimage.label``) nearest the image centre among those at least
   15 % the size of the largest, grown by 2 px so it holds the moving endocardial border.
2. The pool's mean intensity over time, linearly detrended (``scipy.signal.detrend``: gain drift;
   a moving average would bias the first and last beat), is the cycle signal: dark at
   end-diastole (largest cavity), bright at end-systole (the wall moves into the pool).
3. Period: the highest peak of the signal's (biased) autocorrelation at lags of 30-200 bpm
   (a peak at about half its lag with >= 60 % of its height is taken instead: the fundamental).
4. ES frames: peaks of the signal (``scipy.signal.find_peaks``, at least 0.6 periods apart,
   prominence >= 30 % of the signal's 2-98 % range; within half a period of the video's ends, where
   the edge cuts prominence short, peaks about as high as the prominent ones). ED frames: the signal's minimum between
   consecutive ES frames (and within one period before the first and after the last), kept only
   where it is a local minimum inside the video.
5. A video's cycle is *found* when there is an autocorrelation peak and at least two same-phase
   frames (two ES or two ED) whose median spacing agrees with the period within 25 %; otherwise
   the video is scored on all clips instead (the fallback is counted in the record).

A beat is a detected ED frame followed by an ES frame before the next ED. Its clip
(:func:`beat_clip_indices`): for contiguous protocols (``period`` set) the clip starting at the ED
frame, when it fits inside the video; for ``linspace`` protocols ``frames`` indices spread over
``[ED, ED + period]``, when that lies inside the video.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from echobench.protocols import Protocol

SMOOTH_PX = 2.0
MIN_BPM, MAX_BPM = 30.0, 200.0


@dataclass(frozen=True)
class Beats:
    """The cycles found in one video.

    Attributes:
        found: a cycle was found (else ``reason`` says why and the video falls back to all clips).
        period: cycle length in frames (NaN when not found).
        ed, es: ``(k,)`` int64 ED and ES frame indices (0-based), ascending.
        signal: ``(T,)`` the blood-pool intensity signal (detrended, grey levels).
    """

    found: bool
    period: float
    ed: np.ndarray
    es: np.ndarray
    signal: np.ndarray = field(repr=False)
    reason: str = ""

    def heart_rate(self, fps: float) -> float:
        """Heart rate in beats/min at ``fps`` frames/s (NaN when not found)."""
        return 60.0 * fps / self.period if self.found else math.nan

    def beat_starts(self) -> np.ndarray:
        """``(b,)`` ED frames that begin a beat: followed by an ES before the next ED."""
        starts = []
        for i, ed in enumerate(self.ed):
            nxt = self.ed[i + 1] if i + 1 < len(self.ed) else np.inf
            if np.any((self.es > ed) & (self.es < nxt)):
                starts.append(int(ed))
        return np.asarray(starts, dtype=np.int64)


def _grey(video: np.ndarray) -> np.ndarray:
    v = np.asarray(video)
    if v.ndim == 4:
        v = v.mean(axis=-1, dtype=np.float32)
    if v.ndim != 3:
        raise ValueError(f"video must be (T, H, W) or (T, H, W, C), got shape {np.shape(video)}")
    return v.astype(np.float32, copy=False)


def blood_pool_signal(video: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The central blood pool's mean intensity per frame ``(T,)`` and its mask ``(H, W)`` bool
    (steps 1-2 of the module docstring, before detrending); None when no blood pool is seen."""
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(_grey(video), sigma=(0.0, SMOOTH_PX, SMOOTH_PX))
    peak = float(smooth.max())
    if peak <= 0:
        return None
    sector = smooth.max(axis=0) > 0.1 * peak
    if not sector.any():
        return None
    dark = (smooth < 0.5 * float(np.median(smooth.mean(axis=0)[sector]))).mean(axis=0) > 0.2
    labels, count = ndimage.label(sector & dark)
    if count == 0:
        return None
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    h, w = labels.shape
    yy, xx = np.mgrid[0:h, 0:w]
    distance = np.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2)
    big = [i + 1 for i in range(count) if areas[i] >= 0.15 * areas.max()]
    pool = min(big, key=lambda i: float(distance[labels == i].min()))
    mask = ndimage.binary_dilation(labels == pool, iterations=2) & sector
    return smooth[:, mask].mean(axis=1).astype(np.float64), mask


def _period(x: np.ndarray, fps: float) -> float | None:
    from scipy import signal

    t = x.size
    ac = np.correlate(x, x, mode="full")[t - 1:]
    if ac[0] <= 0:
        return None
    ac = ac / ac[0]
    lo = max(2, int(math.floor(fps * 60.0 / MAX_BPM)))
    hi = min(int(math.ceil(fps * 60.0 / MIN_BPM)), t - 4)
    peaks, _ = signal.find_peaks(ac[:hi + 1], height=0.05)
    peaks = peaks[peaks >= lo]
    if peaks.size == 0:
        return None
    best = int(peaks[np.argmax(ac[peaks])])
    for cand in peaks:  # prefer the fundamental over its multiple
        if cand < best and abs(2 * cand - best) <= max(2, 0.1 * best) and ac[cand] >= 0.6 * ac[best]:
            best = int(cand)
            break
    a, b, c = ac[best - 1], ac[best], ac[best + 1] if best + 1 < t else ac[best]
    curve = a - 2 * b + c
    return best + (0.5 * (a - c) / curve if curve < 0 else 0.0)  # parabolic refinement


def _es_frames(x: np.ndarray, period: float, spread: float) -> np.ndarray:
    """Signal peaks at least 0.6 periods apart with prominence >= 30 % of ``spread``; within half a
    period of either end of the video, where a peak's prominence is cut short by the edge, a peak
    as high as the lowest prominent one (less 15 % of ``spread``) also counts."""
    from scipy import signal

    peaks, _ = signal.find_peaks(x, distance=max(1, int(0.6 * period)))
    if peaks.size == 0:
        return peaks.astype(np.int64)
    strong = signal.peak_prominences(x, peaks)[0] >= 0.3 * spread
    if not strong.any():
        return np.zeros(0, dtype=np.int64)
    edge = (peaks < 0.5 * period) | (peaks > x.size - 1 - 0.5 * period)
    high = x[peaks] >= x[peaks[strong]].min() - 0.15 * spread
    return peaks[strong | (edge & high)].astype(np.int64)


def _ed_frames(x: np.ndarray, es: np.ndarray, period: float) -> np.ndarray:
    t = x.size
    bounds = [max(0, int(round(es[0] - period)))] + [int(e) for e in es] + [min(t, int(round(es[-1] + period)) + 1)]
    ed = []
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        a = a + 1 if i > 0 else a  # exclude the ES frame itself
        if b - a < 2:
            continue
        j = a + int(np.argmin(x[a:b]))
        if 0 < j < t - 1 and x[j - 1] >= x[j] <= x[j + 1]:
            ed.append(j)
    return np.asarray(ed, dtype=np.int64)


def detect_beats(video: np.ndarray, fps: float) -> Beats:
    """Find the cardiac cycles of one video (module docstring).

    Args:
        video: ``(T, H, W)`` or ``(T, H, W, C)`` frames (uint8 grey levels; RGB is averaged).
        fps: frames per second (sets the 30-200 bpm search range).

    Returns:
        :class:`Beats` (``found=False`` with a ``reason`` where no cycle is found).

    Raises:
        ValueError: ``video`` is not 3-D or 4-D, or ``fps <= 0``.
    """
    from scipy import signal

    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    empty = np.zeros(0, dtype=np.int64)
    pooled = blood_pool_signal(video)
    if pooled is None:
        return Beats(False, math.nan, empty, empty, np.zeros(len(video)), reason="no blood pool")
    raw, _ = pooled
    x = signal.detrend(raw, type="linear")  # slow gain/drift; a moving average would bias the ends
    period = _period(x, fps) if x.size >= 8 else None
    if period is None:
        return Beats(False, math.nan, empty, empty, x, reason="no periodic signal")
    spread = float(np.percentile(x, 98) - np.percentile(x, 2))
    es = _es_frames(x, period, spread)
    ed = _ed_frames(x, es, period) if es.size else empty
    spacing = [np.diff(f) for f in (es, ed) if f.size >= 2]
    if not spacing:
        return Beats(False, math.nan, ed, es, x, reason="less than one full cycle")
    if abs(float(np.median(np.concatenate(spacing))) - period) > 0.25 * period:
        return Beats(False, math.nan, ed, es, x, reason="landmarks disagree with the period")
    return Beats(True, float(period), ed, es, x)


def beat_clip_indices(protocol: Protocol, beats: Beats, n_frames: int) -> list[np.ndarray]:
    """Source-frame indices ``(T,)`` int64 of one clip per beat that fits in a video of ``n_frames``
    (module docstring); empty when no cycle was found or no beat's clip fits."""
    if not beats.found:
        return []
    clips = []
    for ed in beats.beat_starts():
        if protocol.period is not None:
            if ed < protocol.num_starts(n_frames) and not protocol.needs_padding(n_frames):
                clips.append(protocol.frame_indices(n_frames, start=int(ed)))
        elif ed + beats.period <= n_frames - 1:
            clips.append(np.linspace(ed, ed + beats.period, protocol.frames).astype(np.int64))
    return clips


def beat_clips(protocol: Protocol, video: np.ndarray, fps: float) -> tuple[list[np.ndarray], str | None]:
    """The beat clips of ``video (N, H, W, C)`` uint8 at ``fps``: ``(clips, None)`` with one ``(T,)``
    index array per detected beat that fits, or ``(every clip start, reason)`` when no cycle is found
    or no beat's clip fits (the all-clips fallback, counted by its reason)."""
    found = detect_beats(video, fps)
    clips = beat_clip_indices(protocol, found, len(video))
    if clips:
        return clips, None
    return ([protocol.frame_indices(len(video), start=s) for s in range(protocol.num_starts(len(video)))],
            found.reason or "no beat clip fits in the video")


@dataclass
class BeatOutputs:
    """Beat-level predictions of one split.

    Attributes:
        outputs: ``(V,)`` per-video prediction in natural units (or P(positive)): the model's output
            averaged over the video's beat clips (raw outputs averaged, then decoded, as all-clips).
        spread: ``(V,)`` sample sd (``ddof=1``) of the per-beat predictions; NaN below two beats.
        beats: ``(V,)`` int64 beat clips used; 0 where the video fell back to all clips.
        fallback: reason -> number of videos scored on all clips instead.
        grey: ``(V, 2)`` mean grey level and grey-level sd (0-255) of each decoded video
            (:func:`echobench.evaluation.strata.grey_statistics`: the brightness/contrast strata).
    """

    outputs: np.ndarray
    spread: np.ndarray
    beats: np.ndarray
    fallback: dict[str, int]
    grey: np.ndarray | None = None


def predict_beats(fabric, model, records, protocol: Protocol, *, objective, batch_size: int, stats=None,
                  advance=None, frame_size: tuple[int, int] | None = None, videos=None) -> BeatOutputs:
    """Detect each video's beats and predict one clip per beat (module docstring).

    Args:
        records: the split's :class:`~echobench.data.echonet.VideoRecord` s (``path``, ``fps``).
        objective: the run's :class:`~echobench.engine.objective.Objective` (decodes raw outputs).
        batch_size, stats: as :func:`echobench.engine.loop.predict_clips`.
        advance: called with 1 after each video.
        frame_size: the run's common frame size (:func:`echobench.data.clips.fit_frame_size`), so beat
            clips see the pixels every other evaluation sees.
        videos: one loader per record, ``videos[i]()`` -> ``(N, H, W, C)`` uint8 frames at the run's
            frame size (the run's decoded frame source); None decodes each file here.

    Raises:
        DataError: a video cannot be decoded (:func:`echobench.data.video.read_video`).
    """
    from collections import Counter

    from echobench.data.clips import fit_frame_size
    from echobench.data.video import read_video
    from echobench.engine.loop import predict_clips

    n = len(records)
    outputs, spread, beats = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, dtype=np.int64)
    from echobench.evaluation.strata import grey_statistics

    fallback: Counter = Counter()
    grey = np.full((n, 2), np.nan)
    for v, record in enumerate(records):
        video = videos[v]() if videos is not None else fit_frame_size(read_video(record.path), frame_size)
        grey[v] = grey_statistics(video)
        clips, reason = beat_clips(protocol, video, record.fps)
        if reason is not None:
            fallback[reason] += 1
        else:
            beats[v] = len(clips)
        raw = predict_clips(fabric, model, video, clips, protocol, batch_size=batch_size, stats=stats)
        outputs[v] = float(objective.outputs(np.array([raw.mean()]))[0])
        if beats[v] >= 2:
            spread[v] = float(np.std(objective.outputs(raw), ddof=1))
        if advance:
            advance(1)
    return BeatOutputs(outputs, spread, beats, dict(fallback), grey)


def beat_scores(task, beat: BeatOutputs, labels: np.ndarray, ef: np.ndarray, *, n_boot: int = 1000,
                seed: int = 0) -> list:
    """The ``clips = beats`` rows (track :data:`~echobench.evaluation.tracks.BEATS`): every main metric of
    the per-video beat averages (:func:`echobench.evaluation.score_outputs`), plus ``beat sd`` (mean
    per-video sd over beats, videos with >= 2 beats, NaN without one; task units), ``beats per video`` (mean over the
    videos whose cycle was found) and ``fallback videos`` (count scored on all clips)."""
    from dataclasses import replace

    from echobench.evaluation import Score, score_outputs
    from echobench.evaluation.tracks import BEATS
    from echobench.metrics import Estimate, bootstrap_report

    rows = [replace(s, track=BEATS.tag) for s in score_outputs(task, beat.outputs, labels, ef, n_boot=n_boot, seed=seed)]
    sd = beat.spread[np.isfinite(beat.spread)]
    nan = math.nan
    est = Estimate(nan, nan, nan)  # no video with two beats
    if sd.size:
        import torch

        terms = torch.from_numpy(sd)
        est = bootstrap_report({"beat sd": float(sd.mean())}, lambda w: {"beat sd": w @ terms / sd.size},
                               sd.size, n_boot, seed)["beat sd"]
    rows.append(Score(task.name, "beat sd", est, track=BEATS.tag, units="" if task.kind == "binary" else task.units))
    found = beat.beats[beat.beats > 0]
    rows.append(Score(task.name, "beats per video", Estimate(float(found.mean()) if found.size else nan, nan, nan),
                      track=BEATS.tag, units=""))
    rows.append(Score(task.name, "fallback videos", Estimate(float(sum(beat.fallback.values())), nan, nan),
                      track=BEATS.tag, units=""))
    return rows
