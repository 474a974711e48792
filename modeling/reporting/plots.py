"""The plots of runs, datasets and predictions.

Plots are drawn on `matplotlib.figure.Figure` objects rendered by the Agg canvas, never through pyplot's global
state, so they work on headless machines and leave a notebook's backend alone.
"""

import math
import warnings
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay

from ..files import atomic_path

# The validation metrics drawn per epoch: log_history key -> legend label.
EVAL_CURVES = {
    "eval_accuracy": "accuracy",
    "eval_subset_accuracy": "subset accuracy",
    "eval_f1_micro": "micro F1",
    "eval_f1_macro": "macro F1",
    "eval_precision_macro": "macro precision",
    "eval_recall_macro": "macro recall",
    "eval_pearson": "Pearson r",
    "eval_spearman": "Spearman rho",
}
# Above this many classes the confusion-matrix cells are too small to hold their numbers.
MAX_ANNOTATED_CLASSES = 25


def _save(figure: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Render `figure` with the Agg canvas to `path` (PNG)."""
    FigureCanvasAgg(figure)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=dpi, format=Path(path).suffix.lstrip(".") or "png")
    return Path(path)


def plot_confusion_matrix(
    matrix: np.ndarray | list, label_names: list[str], path: str | Path, title: str = "Confusion matrix"
) -> Path:
    """Draw the confusion matrix (rows: true class) as counts and row-normalised (recall per class), side by side."""
    counts = np.asarray(matrix, dtype=np.int64)  # (num_labels, num_labels)
    row_sums = counts.sum(axis=1, keepdims=True)
    # A class absent from the references has an all-zero row; it stays zero instead of dividing by zero.
    normalised = np.divide(counts, row_sums, out=np.zeros(counts.shape, dtype=np.float64), where=row_sums > 0)

    n = len(label_names)
    side = min(max(4.5, 0.45 * n + 2.5), 16.0)
    figure = Figure(figsize=(2 * side + 1.5, side), layout="constrained")
    count_axes, norm_axes = figure.subplots(1, 2)
    annotate = n <= MAX_ANNOTATED_CLASSES
    rotation = 45 if n > 4 or max(map(len, label_names)) > 8 else 0
    text_kw = {"fontsize": 9 if n <= 10 else 7}
    ConfusionMatrixDisplay(counts, display_labels=label_names).plot(
        ax=count_axes, cmap="Blues", values_format="d", include_values=annotate, xticks_rotation=rotation,
        text_kw=text_kw,
    )  # fmt: skip
    ConfusionMatrixDisplay(normalised, display_labels=label_names).plot(
        ax=norm_axes, cmap="Blues", values_format=".2f", include_values=annotate, xticks_rotation=rotation,
        text_kw=text_kw, im_kw={"vmin": 0.0, "vmax": 1.0},
    )  # fmt: skip
    count_axes.set_title(f"Counts ({int(counts.sum())} texts)")
    norm_axes.set_title("Normalised by true class (rows sum to 1)")
    for axes in (count_axes, norm_axes):
        axes.set_xlabel("Predicted class")
        axes.set_ylabel("True class")
    figure.suptitle(title, fontsize=13)
    return _save(figure, path)


def plot_per_class_f1(
    f1: list[float],
    label_names: list[str],
    path: str | Path,
    support: list[int] | None = None,
    title: str = "F1 per class",
) -> Path:
    """One horizontal bar per class with its F1 (and support), and the macro average as a dashed line."""
    f1 = np.asarray(f1, dtype=np.float64)
    n = len(label_names)
    figure = Figure(figsize=(8, max(2.5, 0.35 * n + 1.5)), layout="constrained")
    axes = figure.subplots()
    positions = np.arange(n)
    bars = axes.barh(positions, f1, color="tab:blue", alpha=0.85)
    names = label_names if support is None else [f"{name} (n={count})" for name, count in zip(label_names, support)]
    axes.set_yticks(positions, names)
    axes.invert_yaxis()  # first class on top, as in the classification report
    axes.bar_label(bars, labels=[f"{value:.3f}" for value in f1], padding=3, fontsize=8)
    macro = float(f1.mean()) if n else 0.0
    axes.axvline(macro, color="tab:red", linestyle="--", label=f"macro F1 = {macro:.3f}")
    axes.set_xlim(0, 1.1)
    axes.set_xlabel("F1 score")
    axes.set_ylabel("Class")
    axes.set_title(title)
    axes.legend(loc="lower right")
    axes.grid(axis="x", alpha=0.3)
    return _save(figure, path)


def training_curves(log_history: list[dict] | None) -> dict[str, list[tuple[float, float]]]:
    """
    The series a training plot needs from a Trainer's `log_history`, as `name -> [(epoch, value), ...]`: `loss`
    (training), `eval_loss` and each of `EVAL_CURVES`. Evaluations logged after the end-of-training summary (the
    final `trainer.evaluate()` of the best checkpoint) are left out, so there is one validation point per epoch.
    """
    series: dict[str, list[tuple[float, float]]] = {key: [] for key in ("loss", "eval_loss", *EVAL_CURVES)}
    for entry in log_history or []:
        if "train_runtime" in entry:  # the summary Trainer.train() logs last
            break
        if "epoch" not in entry:
            continue
        for key in series:
            if isinstance(entry.get(key), (int, float)):
                series[key].append((float(entry["epoch"]), float(entry[key])))
    return {key: points for key, points in series.items() if points}


def plot_training_curves(log_history: list[dict] | None, path: str | Path, title: str = "Training") -> Path | None:
    """Draw train and validation loss, and the validation metrics, per epoch. Returns None (and draws nothing)
    when the history holds neither a training nor a validation loss."""
    curves = training_curves(log_history)
    if "loss" not in curves and "eval_loss" not in curves:
        return None
    figure = Figure(figsize=(12, 4.5), layout="constrained")
    loss_axes, metric_axes = figure.subplots(1, 2)
    if "loss" in curves:
        epochs, values = zip(*curves["loss"])
        loss_axes.plot(epochs, values, color="tab:blue", alpha=0.8, label="train loss")
    if "eval_loss" in curves:
        epochs, values = zip(*curves["eval_loss"])
        loss_axes.plot(epochs, values, color="tab:orange", marker="o", label="validation loss")
    loss_axes.set_title("Loss")
    loss_axes.set_xlabel("Epoch")
    loss_axes.set_ylabel("Loss")
    loss_axes.legend()
    loss_axes.grid(alpha=0.3)

    drawn = False
    for key, label in EVAL_CURVES.items():
        if key in curves:
            epochs, values = zip(*curves[key])
            if key == "eval_f1_macro":
                best = int(np.argmax(values))
                label = f"{label} (best {values[best]:.3f} at epoch {epochs[best]:g})"
            metric_axes.plot(epochs, values, marker="o", label=label)
            drawn = True
    metric_axes.set_title("Validation metrics")
    metric_axes.set_xlabel("Epoch")
    metric_axes.set_ylabel("Score")
    if drawn:
        # Fit the axis to the scores (four curves within a few hundredths of each other would be one band on 0-1);
        # a correlation can be negative, and NaN (undefined) is not drawn.
        scores = np.array([value for key in EVAL_CURVES if key in curves for _, value in curves[key]], dtype=float)
        scores = scores[np.isfinite(scores)]
        if scores.size:
            low, high = float(scores.min()), float(scores.max())
            margin = max(0.1 * (high - low), 0.005)
            metric_axes.set_ylim(max(-1.0 if low < 0 else 0.0, low - margin), min(1.0, high + margin))
    metric_axes.grid(alpha=0.3)
    if drawn:
        metric_axes.legend(loc="lower right")
    else:
        metric_axes.text(0.5, 0.5, "no validation metrics logged", ha="center", va="center")
    figure.suptitle(title, fontsize=13)
    return _save(figure, path)


def plot_attention(
    tokens: list[str],
    weights: list[float] | np.ndarray,
    path: str | Path,
    title: str = "Attention",
    per_row: int = 10,
    signed: bool = False,
    score_name: str = "Attention weight",
) -> Path:
    """
    Draw one text's tokens in reading order, `per_row` to a row, each cell coloured by its attention weight (or any
    other score per token). Unsigned weights' colours span the text's own range (lowest to highest), so that the
    words that mattered stand out even where the weights are nearly even; signed scores are centred at 0.

    Args:
        tokens: the tokens as the tokenizer produced them.
        weights: one weight per token, `(len(tokens),)`.
        path: the PNG to write.
        title: shown above the grid (for example the predicted label).
        per_row: tokens per row of the grid.
        signed: scores of either sign (attributions): a diverging colour map centred at 0, red for positive, blue
            for negative, instead of white to red from 0.
        score_name: the colour bar's label.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if len(tokens) != len(weights):
        raise ValueError(f"{len(tokens)} tokens but {len(weights)} weights")
    per_row = max(1, min(per_row, len(tokens)))  # a short text fills one row, no empty cells
    rows = max(1, math.ceil(len(tokens) / per_row))
    grid = np.full(rows * per_row, np.nan)  # cells past the last token stay empty (NaN is not drawn)
    grid[: len(weights)] = weights
    grid = grid.reshape(rows, per_row)  # (rows, per_row)

    figure = Figure(figsize=(min(1.3 * per_row + 2.5, 16), 0.55 * rows + 2.0), layout="constrained")
    axes = figure.subplots()
    if signed:  # symmetric around 0: the sign is the colour, the size its depth
        vmax = float(np.nanmax(np.abs(weights))) if len(weights) and np.nanmax(np.abs(weights)) > 0 else 1.0
        cmap, vmin = "RdBu_r", -vmax
        strengths = np.abs(weights) / vmax
    else:
        vmin, vmax = (float(np.nanmin(weights)), float(np.nanmax(weights))) if len(weights) else (0.0, 1.0)
        if vmax - vmin < 1e-12:  # all equal: one colour, the middle of the scale
            vmin, vmax = vmin - 0.5, vmax + 0.5
        cmap = "Reds"
        strengths = (weights - vmin) / (vmax - vmin)
    image = axes.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    for index, (token, strength) in enumerate(zip(tokens, strengths)):
        row, column = divmod(index, per_row)
        shown = "".join(char if char.isprintable() else repr(char)[1:-1] for char in token)
        shown = shown if len(shown) <= 14 else shown[:13] + "…"
        color = "white" if strength > 0.6 else "black"  # legible on the darker cells
        # parse_math=False: a `$` in a text is a dollar sign, not the start of a formula.
        axes.text(
            column, row, shown, ha="center", va="center", fontsize=8, color=color, parse_math=False, in_layout=False
        )
    axes.set_xticks(np.arange(per_row), [str(i + 1) for i in range(per_row)])
    axes.set_yticks(np.arange(rows), [str(row * per_row + 1) for row in range(rows)])
    axes.set_xlabel("Position in row")
    axes.set_ylabel("First token #")
    axes.set_title(title, parse_math=False)
    # At most about 4 inches long, and at the top: a long text makes a tall figure.
    shrink = min(0.9, 4.0 / (0.55 * rows + 1.0))
    figure.colorbar(image, ax=axes, label=score_name, shrink=shrink, anchor=(0.0, 1.0))
    with warnings.catch_warnings():
        # Scripts the default font lacks (CJK, emoji) are drawn as boxes; the warning per glyph adds nothing.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        return _save(figure, path)


def plot_class_counts(counts: dict[str, dict[str, int]], label_names: list[str], path: str | Path, title: str) -> Path:
    """Grouped horizontal bars: for each class, its number of texts in each split (`counts[split][label]`)."""
    n = len(label_names)
    figure = Figure(figsize=(9, max(3.0, 0.45 * n * max(1, len(counts)) / 2 + 1.5)), layout="constrained")
    axes = figure.subplots()
    height = 0.8 / max(1, len(counts))
    positions = np.arange(n)
    for offset, (split, per_class) in enumerate(counts.items()):
        values = [per_class.get(name, 0) for name in label_names]
        bars = axes.barh(positions + offset * height, values, height=height, label=f"{split} ({sum(values)})")
        axes.bar_label(bars, padding=2, fontsize=7)
    axes.set_yticks(positions + height * (len(counts) - 1) / 2, label_names)
    axes.invert_yaxis()
    axes.set_xlabel("Number of texts")
    axes.set_ylabel("Class")
    axes.set_title(title)
    axes.legend(title="split (texts)", loc="best")
    axes.grid(axis="x", alpha=0.3)
    return _save(figure, path)


def plot_length_histogram(
    lengths: np.ndarray | list[int],
    percentiles: dict[int, int],
    path: str | Path,
    title: str,
    max_length: int | None = None,
) -> Path:
    """
    Histogram of text lengths in tokens with the given percentiles (`{95: 37, ...}`) as vertical lines, and the
    configured `max_length` when given. The x axis stops a little past the 99.5th percentile so a long tail does
    not squash the bulk; how many texts lie beyond is noted.
    """
    lengths = np.asarray(lengths)
    top = int(max(np.percentile(lengths, 99.5), max(percentiles.values(), default=0)) * 1.1) + 1
    if max_length is not None and max_length <= 2 * top:
        top = max(top, max_length)  # the max_length line is drawn: show the texts up to it too
    top = min(top, int(lengths.max()))
    beyond = int((lengths > top).sum())
    # Integer-wide bins while they stay readable; at most 80 bins otherwise.
    bins = np.arange(-0.5, top + 1.5) if top <= 80 else np.linspace(0, top, 81)
    figure = Figure(figsize=(10, 4.8), layout="constrained")
    axes = figure.subplots()
    axes.hist(lengths[lengths <= top], bins=bins, color="tab:blue", alpha=0.75)
    styles = {50: ":", 90: "-.", 95: "-", 99: "--"}
    for q, value in sorted(percentiles.items()):
        axes.axvline(value, color="tab:red", linestyle=styles.get(q, "--"), label=f"p{q} = {value} tokens")
    if max_length is not None and max_length <= 2 * top:
        label = f"data config max_length = {max_length}"
        axes.axvline(max_length, color="tab:green", linewidth=2, alpha=0.7, label=label)
    elif max_length is not None:
        axes.plot([], [], " ", label=f"data config max_length = {max_length} (off the chart)")
    axes.set_xlabel("Text length (tokens)")
    axes.set_ylabel("Number of texts")
    note = f"; {beyond} longer texts (up to {int(lengths.max())}) not shown" if beyond else ""
    axes.set_title(f"{title}\n{len(lengths)} texts{note}")
    axes.legend()
    axes.grid(axis="y", alpha=0.3)
    return _save(figure, path)
