"""modeling.reporting: the files a run leaves, the plots' contents and the summary table."""

import csv

import numpy as np
import pytest
from PIL import Image
from scipy.special import softmax

from modeling.reporting import format_summary, plot_attention, write_run_reports
from modeling.reporting.plots import training_curves

LABELS = ["negative", "neutral", "positive"]


def log_history() -> list[dict]:
    """What a two-epoch Trainer run logs: losses, one evaluation per epoch, the summary, a final evaluation."""
    history = []
    for epoch in (1, 2):
        for step in range(1, 5):
            history.append({"epoch": epoch - 1 + step / 4, "loss": 1.2 / (epoch + step / 4), "step": step})
        history.append(
            {
                "epoch": float(epoch),
                "eval_loss": 1.0 / epoch,
                "eval_accuracy": 0.5 + 0.1 * epoch,
                "eval_f1_macro": 0.4 + 0.1 * epoch,
                "eval_precision_macro": 0.45 + 0.1 * epoch,
                "eval_recall_macro": 0.5 + 0.1 * epoch,
            }
        )
    history.append({"epoch": 2.0, "train_loss": 0.7, "train_runtime": 3.0})
    history.append({"epoch": 2.0, "eval_loss": 0.5, "eval_accuracy": 0.7, "eval_f1_macro": 0.6})
    return history


def assert_png(path, min_width=300, min_height=150):
    assert path.is_file(), path
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width >= min_width and image.height >= min_height, image.size
        return image.size


def random_run(num_labels: int, n: int = 90, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_labels, size=n)
    logits = rng.normal(size=(n, num_labels))
    logits[np.arange(n), labels] += 1.0  # better than chance
    return labels, logits


def test_write_run_reports_writes_every_file(tmp_path):
    labels, logits = random_run(3)
    texts = [f"text {i}, with a comma" for i in range(len(labels))]
    metrics = write_run_reports(tmp_path, LABELS, texts, labels, logits, log_history())

    with (tmp_path / "test_predictions.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["text", "label", "predicted_label", "confidence"]
    assert len(rows) == len(labels)
    probabilities = softmax(logits, axis=-1)
    for row, text, label, probs in zip(rows, texts, labels, probabilities):
        assert row["text"] == text
        assert row["label"] == LABELS[label]
        assert row["predicted_label"] == LABELS[probs.argmax()]
        assert float(row["confidence"]) == pytest.approx(probs.max(), abs=1e-4)

    report = (tmp_path / "classification_report.txt").read_text()
    assert all(name in report for name in LABELS)
    assert metrics["accuracy"] == pytest.approx(float((logits.argmax(-1) == labels).mean()))
    assert np.asarray(metrics["confusion_matrix"]).sum() == len(labels)
    assert_png(tmp_path / "confusion_matrix.png", min_width=600)  # two panels side by side
    assert_png(tmp_path / "per_class_f1.png")
    assert_png(tmp_path / "training_curves.png", min_width=600)


def test_no_training_curves_without_losses(tmp_path):
    labels, logits = random_run(3, seed=1)
    write_run_reports(tmp_path, LABELS, ["t"] * len(labels), labels, logits, [], split="validation")
    assert not (tmp_path / "training_curves.png").exists()
    assert (tmp_path / "validation_predictions.csv").is_file()
    assert_png(tmp_path / "confusion_matrix.png")


def test_reports_with_a_class_never_seen(tmp_path):
    """A class absent from the references and predictions gets zero rows, not a crash or NaN."""
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, size=40)
    logits = np.full((40, 4), -5.0)
    logits[np.arange(40), labels] = 5.0
    metrics = write_run_reports(tmp_path, ["a", "b", "c", "never"], ["x"] * 40, labels, logits, [])
    assert metrics["confusion_matrix"][3] == [0, 0, 0, 0]
    assert metrics["per_class"]["f1"][3] == 0.0
    assert metrics["accuracy"] == 1.0
    assert "never" in (tmp_path / "classification_report.txt").read_text()
    assert_png(tmp_path / "per_class_f1.png")


def test_training_curves_keep_one_validation_point_per_epoch():
    curves = training_curves(log_history())
    assert [epoch for epoch, _ in curves["eval_loss"]] == [1.0, 2.0]  # the final re-evaluation is left out
    assert [value for _, value in curves["eval_accuracy"]] == pytest.approx([0.6, 0.7])
    assert len(curves["loss"]) == 8
    assert curves["loss"][0] == (0.25, pytest.approx(1.2 / 1.25))
    assert set(curves) == {"loss", "eval_loss", "eval_accuracy", "eval_f1_macro", "eval_precision_macro",
                           "eval_recall_macro"}  # fmt: skip
    assert training_curves([]) == training_curves(None) == {}
    assert training_curves([{"epoch": 1.0, "train_runtime": 1.0, "train_loss": 0.5}]) == {}


def test_format_summary_table():
    metrics = {
        "eval_accuracy": 0.81234,
        "eval_f1_macro": 0.8,
        "eval_loss": 0.51,
        "test_accuracy": 0.79,
        "test_f1_macro": 0.775,
        "test_loss": 0.55,
        "train_runtime": 12.0,
    }
    lines = format_summary(metrics).splitlines()
    assert lines[0].split() == ["accuracy", "f1_macro", "loss"]
    assert lines[1].split() == ["validation", "0.8123", "0.8000", "0.5100"]
    assert lines[2].split() == ["test", "0.7900", "0.7750", "0.5500"]
    single = format_summary({"accuracy": 0.5, "f1_macro": 0.25}, row_name="test").splitlines()
    assert single[1].split() == ["test", "0.5000", "0.2500"]
    assert "no validation or test metrics" in format_summary({"train_runtime": 1.0})


def test_plot_attention_grows_with_the_text(tmp_path):
    short = assert_png(plot_attention(["good", "day"], [0.7, 0.3], tmp_path / "short.png", title="positive"), 150, 80)
    tokens = ["word", "$5", "😀", "中文", "\x07bell", "averyveryverylongtokenindeed"] * 20
    weights = np.random.default_rng(3).dirichlet(np.ones(len(tokens)))
    tall = assert_png(plot_attention(tokens, weights, tmp_path / "long.png", title="a $title$ with dollars"))
    assert tall[1] > 3 * short[1]  # 12 rows of tokens against one
    with pytest.raises(ValueError, match="2 tokens but 3 weights"):
        plot_attention(["a", "b"], [0.2, 0.3, 0.5], tmp_path / "bad.png")
