"""Multi-label and regression data (`problem_type` in a data config): loading, metrics, and train -> predict ->
evaluate end to end for a recurrent type and a tiny BERT."""

import csv
import json

import numpy as np
import pytest
from conftest import multi_label_rows, regression_rows, tiny_overrides, write_jsonl_gz, write_problem_data

from modeling.data import label_names_of, load_data_config, load_splits, tokenize_splits, train_word_tokenizer
from modeling.errors import UserInputError
from modeling.metrics import multi_label_metrics, regression_metrics

TOPICS = ["politics", "sports", "tech"]


def quick(config, output_dir, *extra):
    return [
        "--dataset", config, "--data_dir", config.parent, "--output_dir", output_dir, "--num_train_epochs", "2",
        "--per_device_train_batch_size", "16", "--seed", "0", "--disable_tqdm", "true", *extra,
    ]  # fmt: skip


def write_config(folder, text: str):
    path = folder / "config.yaml"
    path.write_text(text)
    return path


# --- data ------------------------------------------------------------------------------------------------------


def test_multi_label_lists_and_delimited_strings_become_multi_hot_rows(tmp_path):
    rows = [
        {"text": "vote goal", "label": ["sports", "politics"]},
        {"text": "chip", "label": ["tech"]},
        {"text": "nothing here", "label": []},
        {"text": "goal", "label": ["sports"]},
    ]
    write_jsonl_gz(tmp_path / "train.jsonl.gz", rows)
    write_jsonl_gz(tmp_path / "test.jsonl.gz", rows[:2])
    write_jsonl_gz(tmp_path / "validation.jsonl.gz", rows[2:])
    config = load_data_config(write_config(tmp_path, "problem_type: multi_label_classification\n"))
    data = load_splits(config, str(tmp_path))
    assert label_names_of(data["train"], config) == TOPICS  # the sorted union of the training labels
    assert list(data["train"]["label"]) == [[0, 1], [2], [], [1]]
    tokenizer = train_word_tokenizer(data["train"]["text"], min_frequency=1)
    tokenized = tokenize_splits(data, tokenizer, 16)
    assert list(tokenized["train"]["label"]) == [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    assert tokenized["train"].features["label"].feature.dtype == "float32"

    # A CSV holds the labels as one string: label_delimiter splits it; ids work as well as names.
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    (csv_dir / "train.csv").write_text("text,topics\n" + "vote goal,sports|politics\nchip,2\ngoal,sports\n" * 4)
    config = load_data_config(
        write_config(
            csv_dir, "problem_type: multi_label_classification\nlabel_column: topics\nlabel_delimiter: '|'\n"
            "label_names: [politics, sports, tech]\n",
        )
    )  # fmt: skip
    data = load_splits(config, str(csv_dir))
    labels = [ids for split in data.values() for ids in split["label"]]
    assert sorted(map(tuple, labels)) == [(0, 1)] * 4 + [(1,)] * 4 + [(2,)] * 4


def test_regression_labels_are_floats_and_bad_values_are_refused(tmp_path):
    write_jsonl_gz(tmp_path / "train.jsonl.gz", [{"text": "a", "score": 1}, {"text": "b", "score": "2.5"}] * 5)
    config = load_data_config(write_config(tmp_path, "problem_type: regression\nlabel_column: score\n"))
    data = load_splits(config, str(tmp_path))
    assert label_names_of(data["train"], config) == ["score"]  # the one output is named after the column
    assert sorted({value for split in data.values() for value in split["label"]}) == [1.0, 2.5]

    write_jsonl_gz(tmp_path / "train.jsonl.gz", [{"text": "a", "score": "high"}] * 4)
    with pytest.raises(UserInputError, match="'high' in the train split .* is not a number"):
        load_splits(config, str(tmp_path))


def test_problem_type_is_checked_and_lists_need_it(tmp_path):
    with pytest.raises(UserInputError, match="problem_type must be one of single_label_classification"):
        load_data_config(write_config(tmp_path, "problem_type: multilabel\n"))
    with pytest.raises(UserInputError, match="regression predicts one value; label_names must hold one name"):
        load_data_config(write_config(tmp_path, "problem_type: regression\nlabel_names: [low, high]\n"))
    write_jsonl_gz(tmp_path / "train.jsonl.gz", [{"text": "a", "label": ["x", "y"]}] * 4)
    config = load_data_config(write_config(tmp_path, "name: lists\n"))
    with pytest.raises(UserInputError, match="holds lists .* multi_label_classification"):
        load_splits(config, str(tmp_path))


# --- metrics against a hand computation -------------------------------------------------------------------------


def test_multi_label_metrics_match_a_hand_computation():
    probabilities = np.array([[0.9, 0.2, 0.6], [0.6, 0.7, 0.1], [0.1, 0.1, 0.4], [0.3, 0.8, 0.55]])
    references = np.array([[1, 0, 1], [1, 0, 0], [0, 1, 0], [0, 1, 1]])
    # At 0.5 the predictions are [1,0,1], [1,1,0], [0,0,0], [0,1,1]: rows 0 and 3 exactly right.
    # Label 0: tp 2, fp 0, fn 0; label 1: tp 1, fp 1, fn 1; label 2: tp 2, fp 0, fn 0. Totals: tp 5, fp 1, fn 1.
    results = multi_label_metrics(probabilities, references)
    assert results["subset_accuracy"] == pytest.approx(2 / 4)
    assert results["precision_micro"] == pytest.approx(5 / 6)
    assert results["recall_micro"] == pytest.approx(5 / 6)
    assert results["f1_micro"] == pytest.approx(5 / 6)
    assert results["f1_macro"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert results["precision_macro"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert results["per_class"]["support"] == [2, 2, 2]
    # At 0.65 the predictions are [1,0,0], [0,1,0], [0,0,0], [0,1,0]: no row exactly right; tp 2 of 6 references.
    strict = multi_label_metrics(probabilities, references, threshold=0.65)
    assert strict["subset_accuracy"] == 0.0
    assert strict["recall_micro"] == pytest.approx(2 / 6)
    assert strict["precision_micro"] == pytest.approx(2 / 3)
    assert strict["per_class"]["f1"][2] == 0.0


def test_regression_metrics_match_a_hand_computation():
    predictions, references = np.array([1.0, 2.0, 4.0, 3.0]), np.array([1.0, 3.0, 3.0, 5.0])
    results = regression_metrics(predictions, references)
    assert results["mse"] == pytest.approx((0 + 1 + 1 + 4) / 4)
    assert results["mae"] == pytest.approx((0 + 1 + 1 + 2) / 4)
    # Pearson: deviations from the means (2.5, 3.0) are (-1.5, -0.5, 1.5, 0.5) and (-2, 0, 0, 2).
    assert results["pearson"] == pytest.approx(4 / np.sqrt(5 * 8))
    # Spearman: ranks (1, 2, 4, 3) against (1, 2.5, 2.5, 4).
    assert results["spearman"] == pytest.approx(np.corrcoef([1, 2, 4, 3], [1, 2.5, 2.5, 4])[0, 1])
    assert np.isnan(regression_metrics(np.ones(3), np.array([1.0, 2.0, 3.0]))["pearson"])  # undefined, not 0


# --- end to end ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gru", "bert"])
def test_multi_label_trains_predicts_and_evaluates(run_script, tmp_path, multi_label_data, tiny_transformer_dir, kind):
    output_dir = tmp_path / "run"
    model = ["--config_overrides", tiny_overrides("gru")] if kind == "gru" else [
        "--model_name_or_path", tiny_transformer_dir("bert"), "--learning_rate", "1e-3",
    ]  # fmt: skip
    run_script("train", "--model_type", kind, *model, *quick(multi_label_data, output_dir))
    config = json.loads((output_dir / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification" and config["multi_label_threshold"] == 0.5
    assert config["id2label"] == {"0": "politics", "1": "sports", "2": "tech"}
    arguments = json.loads((output_dir / "training_args.json").read_text())
    assert arguments["metric_for_best_model"] == "f1_macro" and arguments["label_smoothing_factor"] == 0.0
    results = json.loads((output_dir / "all_results.json").read_text())
    for key in ("subset_accuracy", "f1_micro", "f1_macro", "precision_micro", "recall_macro"):
        assert 0 <= results[f"test_{key}"] <= 1
    assert not (output_dir / "confusion_matrix.png").exists() and (output_dir / "per_class_f1.png").is_file()
    assert "micro avg" in (output_dir / "classification_report.txt").read_text()
    with (output_dir / "test_predictions.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["label"] for row in rows] == [";".join(row["label"]) for row in multi_label_rows(40, 2)]
    for row in rows:  # the predicted labels and their probabilities, paired
        assert len(row["predicted_label"].split(";")) == len(row["confidence"].split(";"))
    card = (output_dir / "README.md").read_text()
    assert "Multi-label text classifier" in card and "exact_match" in card and "torch.sigmoid" in card

    # predict.py: the labels at or above the threshold, with their probabilities; evaluate_model.py: the same metrics.
    predict = ["predict", "--model", output_dir, "--json", "vote senate goal", "--multi_label_threshold"]
    [low] = run_script(*predict, "0.01")
    assert set(low["labels"]) == set(TOPICS) == set(low["probabilities"])  # every label passes 0.01
    assert list(low["labels"].values()) == sorted(low["labels"].values(), reverse=True)  # most probable first
    [high] = run_script(*predict, "0.99")
    assert high["labels"] == {}
    evaluated = run_script(
        "evaluate_model", "--model", output_dir, "--dataset", multi_label_data, "--data_dir", multi_label_data.parent,
        "--latency_samples", "0", "--output_dir", tmp_path / "eval",
    )  # fmt: skip
    assert evaluated["f1_micro"] == pytest.approx(results["test_f1_micro"], abs=1e-6)
    assert evaluated["subset_accuracy"] == pytest.approx(results["test_subset_accuracy"], abs=1e-6)
    assert evaluated["loss"] == pytest.approx(results["test_loss"], abs=1e-4)
    assert evaluated["confusion_matrix"] is None and set(evaluated["per_class"]) == set(TOPICS)


@pytest.mark.parametrize("kind", ["lstm", "bert"])
def test_regression_trains_predicts_and_evaluates(run_script, tmp_path, regression_data, tiny_transformer_dir, kind):
    output_dir = tmp_path / "run"
    model = ["--config_overrides", tiny_overrides("lstm")] if kind == "lstm" else [
        "--model_name_or_path", tiny_transformer_dir("bert"), "--learning_rate", "1e-3",
    ]  # fmt: skip
    run_script("train", "--model_type", kind, *model, *quick(regression_data, output_dir))
    config = json.loads((output_dir / "config.json").read_text())
    assert config["problem_type"] == "regression" and config["id2label"] == {"0": "label"}  # one output
    arguments = json.loads((output_dir / "training_args.json").read_text())
    # The best checkpoint has the lowest mse; the recurrent default label smoothing is off (values have no classes).
    assert arguments["metric_for_best_model"] == "mse" and arguments["greater_is_better"] is False
    assert arguments["label_smoothing_factor"] == 0.0
    state = json.loads((output_dir / "trainer_state.json").read_text())
    assert state["best_metric"] == min(e["eval_mse"] for e in state["log_history"] if "eval_mse" in e)
    results = json.loads((output_dir / "all_results.json").read_text())
    for key in ("mse", "mae", "pearson", "spearman"):
        assert f"test_{key}" in results and f"eval_{key}" in results
    for name in ("confusion_matrix.png", "per_class_f1.png", "classification_report.txt"):
        assert not (output_dir / name).exists()
    with (output_dir / "test_predictions.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(row["label"]) for row in rows] == [row["label"] for row in regression_rows(40, 2)]
    predicted = np.array([float(row["predicted_value"]) for row in rows])
    truth = np.array([float(row["label"]) for row in rows])
    assert results["test_mse"] == pytest.approx(float(np.mean((predicted - truth) ** 2)), rel=1e-3)
    card = (output_dir / "README.md").read_text()
    assert "Text regression of `label`" in card and "Mean squared error" in card and "pearsonr" in card
    assert "Scores differ between classes" not in card

    [result] = run_script("predict", "--model", output_dir, "--json", rows[0]["text"])
    assert (
        set(result) == {"text", "value", "empty"}
        and not result["empty"]
        and result["value"] == pytest.approx(predicted[0], abs=1e-4)
    )
    with pytest.raises(SystemExit):
        run_script("predict", "--model", output_dir, "--multi_label_threshold", "0.3", "text")
    evaluated = run_script(
        "evaluate_model", "--model", output_dir, "--dataset", regression_data, "--data_dir", regression_data.parent,
        "--latency_samples", "0", "--output_dir", tmp_path / "eval",
    )  # fmt: skip
    assert evaluated["mse"] == pytest.approx(results["test_mse"], rel=1e-4)
    assert evaluated["per_class"] is None and evaluated["confusion_matrix"] is None


def test_multi_label_model_is_refused_on_single_label_data(run_script, tmp_path, toy_data_dir, capsys):
    from modeling.registry import create_model, get_model_spec

    tokenizer = train_word_tokenizer(["vote goal chip"], min_frequency=1)
    model = create_model(
        get_model_spec("gru"), TOPICS, tokenizer=tokenizer, config_overrides={"embedding_dim": 8, "hidden_size": 4},
        problem_type="multi_label_classification",
    )  # fmt: skip
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    with pytest.raises(SystemExit):
        run_script(
            "evaluate_model", "--model", tmp_path / "model", "--dataset", "tweet_sentiment", "--data_dir", toy_data_dir
        )
    assert "trained for multi_label_classification but dataset 'tweet_sentiment' is single_label" in (
        capsys.readouterr().err
    )


def test_flags_that_need_one_class_per_text_are_refused(run_script, tmp_path, regression_data, capsys):
    base = ["--model_type", "gru", "--config_overrides", tiny_overrides("gru")]
    with pytest.raises(SystemExit):
        run_script("train", *base, *quick(regression_data, tmp_path / "a"), "--metric_for_best_model", "accuracy")
    assert "--metric_for_best_model accuracy is not reported for regression data" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_script("train", *base, *quick(regression_data, tmp_path / "b"), "--class_weights", "balanced")
    assert "--class_weights needs one class per text" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_script("train", *base, *quick(regression_data, tmp_path / "c"), "--multi_label_threshold", "0.3")
    assert "--multi_label_threshold is for multi-label data; this data is regression" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in "abc")


def test_an_explicit_lower_is_better_metric_is_minimised(tmp_path, monkeypatch, regression_data):
    import sys

    from modeling.arguments import parse_args

    def best_metric(*extra: str) -> tuple[str, bool]:
        monkeypatch.setattr(sys, "argv", ["train.py", "--model_type", "gru", *extra])
        training_args = parse_args()[2]
        return training_args.metric_for_best_model, training_args.greater_is_better

    assert best_metric("--dataset", str(regression_data)) == ("mse", False)
    assert best_metric("--dataset", str(regression_data), "--metric_for_best_model", "mae") == ("mae", False)
    assert best_metric("--dataset", str(regression_data), "--metric_for_best_model", "pearson") == ("pearson", True)
    assert best_metric("--dataset", "tweet_sentiment") == ("f1_macro", True)
    # An explicit --greater_is_better still wins.
    assert best_metric("--dataset", str(regression_data), "--greater_is_better", "true") == ("mse", True)


def test_generated_data_fixture_writes_a_loadable_config(tmp_path):
    config_path = write_problem_data(tmp_path / "ml", multi_label_rows, "multi_label_classification", (30, 9, 9))
    config = load_data_config(config_path)
    data = load_splits(config, str(config_path.parent))
    assert {split: len(rows) for split, rows in data.items()} == {"train": 30, "validation": 9, "test": 9}
    assert label_names_of(data["test"], config) == TOPICS


def test_inspect_data_counts_labels_per_text_and_skips_classes_for_regression(
    run_script, tmp_path, multi_label_data, regression_data
):
    stats = run_script(
        "inspect_data", "--dataset", multi_label_data, "--data_dir", multi_label_data.parent,
        "--output_dir", tmp_path / "ml",
    )  # fmt: skip
    expected = {name: sum(name in row["label"] for row in multi_label_rows(150, 0)) for name in TOPICS}
    assert stats["class_counts"]["train"] == expected  # a text with two labels counts for each
    stats = run_script(
        "inspect_data", "--dataset", regression_data, "--data_dir", regression_data.parent,
        "--output_dir", tmp_path / "rg",
    )  # fmt: skip
    assert stats["label_names"] == [] and stats["lengths"]["train"]["texts"] == 150
    assert not (tmp_path / "rg" / "class_counts.png").exists()
