"""Detection on a mined log: split into training and test, run the detectors, score against labels.

Training data is either another file (``--train``: e.g. the twin's logs of one seed, tested on
another seed or on a real system's file) or the first `train_fraction` of the file itself, cut at
a window boundary. With labels, training keeps only what is normal (windows with no anomalous
line; for DeepLog, positions whose line and history are normal), as DeepLog and LogBERT are
evaluated; ``train_on="all"`` trains on everything, unsupervised, as loglizer's PCA and
IsolationForest were.

Scores (when the format carries labels): precision, recall and F1 per window (a window is
anomalous when any line is; a detector flags windows) and per line (a window detector flags every
line of a window it flags; DeepLog flags lines).
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from opstwin.logs import windows as W
from opstwin.logs.detectors import WINDOW_DETECTORS, fit_predict
from opstwin.logs.formats import LogFormat
from opstwin.logs.parsing import Mined, make_miner, mine
from opstwin.logs.reader import LogInputError, Progress

DETECTORS = (*WINDOW_DETECTORS, "deeplog")


class DetectError(LogInputError):
    """Detection cannot run as asked (the message says why, in one line)."""


@dataclass(frozen=True)
class Counts:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Result:
    """One detector on one test set."""

    detector: str
    train_samples: int
    test_lines: int
    test_windows: int
    flagged_lines: int
    flagged_windows: int
    seconds: float
    line: Counts | None  # None without labels
    window: Counts | None

    def row(self) -> dict[str, object]:
        """A flat dict for CSV and JSON."""
        out = {k: v for k, v in asdict(self).items() if k not in ("line", "window")}
        for name, c in (("line", self.line), ("window", self.window)):
            for m in ("precision", "recall", "f1"):
                out[f"{name}_{m}"] = None if c is None else round(getattr(c, m), 4)
            for m in ("tp", "fp", "fn"):
                out[f"{name}_{m}"] = None if c is None else getattr(c, m)
        return out


@dataclass(frozen=True)
class Split:
    """Training lines then test lines, each part's sessions together (file order within a session)."""

    tokens: np.ndarray  # vocabulary column per line (0: unseen in training)
    anomalous: np.ndarray | None  # per line
    segment: np.ndarray  # per line: (part, session) as one id; windows and histories stay inside it
    time: np.ndarray | None  # per line, seconds, for time windows
    test_from: int  # first test line
    vocab: W.Vocabulary


def _part(m: Mined, a: int, b: int) -> tuple[np.ndarray | None, ...]:
    return tuple(None if x is None else x[a:b] for x in (m.cluster, m.anomalous, m.group, m.time))


def split(test: Mined, train: Mined | None, train_fraction: float, window: float) -> Split:
    """Join (or cut) training and test lines, group each part's sessions, give each line a column.
    Without `train`, the cut falls on a multiple of `window` lines (of any line, for time windows)."""
    if train is not None:
        if (train.anomalous is None) != (test.anomalous is None):
            raise DetectError("--train and FILE must both carry labels or both not (use the same --format)")
        parts = [_part(train, 0, train.n), _part(test, 0, test.n)]
    else:
        step = int(window) if test.time is None and window <= test.n else 1  # (a whole session is 'huge')
        cut = int(test.n * train_fraction) // step * step
        parts = [_part(test, 0, cut), _part(test, cut, test.n)]
    clusters, labels, segments, times = [], [], [], []
    for k, (c, a, g, t) in enumerate(parts):
        g = np.zeros(len(c), dtype=np.int64) if g is None else g.astype(np.int64)
        order = np.argsort(g, kind="stable")  # sessions together, file order inside each
        clusters.append(c[order])
        labels.append(None if a is None else a[order])
        segments.append(g[order] * 2 + k)
        times.append(None if t is None else t[order])
    cut = len(clusters[0])
    if cut == 0 or not len(clusters[1]):
        raise DetectError(f"nothing to {'train on' if cut == 0 else 'test'} ({cut} training lines, "
                          f"{len(clusters[1])} test lines); use a longer file, --train or another --train-fraction")
    vocab = W.Vocabulary.of(clusters[0])
    return Split(vocab.index(np.concatenate(clusters)),
                 None if labels[0] is None else np.concatenate(labels), np.concatenate(segments),
                 None if times[0] is None else np.concatenate(times), cut, vocab)


def run_detectors(s: Split, names: tuple[str, ...], window: float, seed: int, train_on: str = "normal",
                  say: Callable[[str], None] | None = None) -> list[Result]:
    """Fit and apply each detector in `names`; score against labels when there are any."""
    cut, n = s.test_from, len(s.tokens)
    labelled = s.anomalous is not None and train_on == "normal"
    t = s.time
    train_w = W.window_ids(s.segment[:cut], window, None if t is None else t[:cut])
    test_w = W.window_ids(s.segment[cut:], window, None if t is None else t[cut:])
    train_m = W.counts(s.tokens[:cut], train_w, s.vocab.size)
    test_m = W.counts(s.tokens[cut:], test_w, s.vocab.size)
    if labelled:
        train_m = train_m[W.per_window(s.anomalous[:cut], train_w) == 0]
    truth_w = None if s.anomalous is None else W.per_window(s.anomalous[cut:], test_w) > 0
    results = []
    for name in names:
        t0 = time.perf_counter()  # clock-ok: reported speed only
        if name == "deeplog":
            from opstwin.logs.deeplog import DeepLogConfig, flag_lines

            first = W.starts(s.segment)
            mask = np.zeros(n, dtype=bool)
            mask[:cut] = True
            if labelled:  # this line and the `history` before it, within its session, all normal
                bad = np.concatenate([[0], np.cumsum(s.anomalous[:cut])])
                lo = np.maximum(np.arange(cut) - DeepLogConfig().history, first[:cut])
                mask[:cut] = bad[np.arange(cut) + 1] - bad[lo] == 0
            lines = flag_lines(s.tokens + 1, first, mask, cut, s.vocab.size + 1, seed)  # 0 -> deeplog.UNSEEN
            flagged_w = W.per_window(lines, test_w) > 0
            train_samples = int(mask.sum())
        else:
            if say:
                say(f"{name}: fitting on {train_m.shape[0]} windows")
            try:
                flagged_w = fit_predict(name, train_m, test_m, seed)
            except ValueError as exc:
                raise DetectError(f"{name}: {exc}") from None
            lines = flagged_w[test_w]
            train_samples = int(train_m.shape[0])
        seconds = time.perf_counter() - t0  # clock-ok
        line_c = window_c = None
        if s.anomalous is not None:
            truth = s.anomalous[cut:]
            line_c = Counts(int((lines & truth).sum()), int((lines & ~truth).sum()), int((~lines & truth).sum()))
            window_c = Counts(int((flagged_w & truth_w).sum()), int((flagged_w & ~truth_w).sum()),
                              int((~flagged_w & truth_w).sum()))
        results.append(Result(name, train_samples, n - cut, len(flagged_w), int(lines.sum()), int(flagged_w.sum()),
                              round(seconds, 3), line_c, window_c))
    return results


def detect_files(file: Path, fmt: LogFormat, *, detectors: tuple[str, ...] = DETECTORS, window: float = 20,
                 timed: bool = False, group: str | None = None, session: re.Pattern[str] | None = None,
                 labels: Path | None = None, train: Path | None = None, train_fraction: float = 0.5,
                 train_on: str = "normal", seed: int = 1, progress: Callable[[Path], Progress | None] | None = None,
                 note: Callable[[str], None] | None = None) -> tuple[list[Result], Mined, Mined | None]:
    """What ``opstwin logs detect`` does: mine `train` (if any) and `file` with one miner, label by
    session from `labels` (if any), split, run `detectors`. Returns the results and the mined files;
    raises :class:`LogInputError` for input it cannot use."""
    miner, groups = make_miner(), {}

    def read(path: Path) -> Mined:
        mined = mine(path, fmt, miner, progress(path) if progress else None, group, groups, timed, session)
        if mined.stats.malformed and note:
            note(f"{path}: {mined.stats.note()}")
        return mined

    trained = read(train) if train is not None else None
    tested = read(file)
    if labels is not None:
        from opstwin.logs.labels import label_lines, read_labels

        by_session = read_labels(labels)
        for mined in (trained, tested):
            if mined is not None:
                mined.anomalous = label_lines(mined.group, groups, by_session)
    results = run_detectors(split(tested, trained, train_fraction, window), detectors, window, seed, train_on)
    return results, tested, trained
