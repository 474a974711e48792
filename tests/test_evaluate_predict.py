"""scripts/evaluate_model.py and scripts/predict.py on a model trained by scripts/train.py, an untrained LSTM and a
tiny random BERT."""

import csv
import io
import json
import math
import sys

import numpy as np
import pytest
import torch
from conftest import TINY_RNN_OVERRIDES, load_script
from PIL import Image
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig, BertForSequenceClassification

from modeling import LSTMConfig

LABELS = ["negative", "neutral", "positive"]
LABEL_IDS = {"id2label": dict(enumerate(LABELS)), "label2id": {name: i for i, name in enumerate(LABELS)}}
# Texts a classifier meets in the wild; the last is one megabyte.
ODD_TEXTS = [
    "",
    "   \t  ",
    "😀🎉🔥",
    "Привет, как дела?",
    "中文文本分类",
    "مرحبا بالعالم",
    "\x00\x01\x02\x1b[31m\x7f",
    "e\u0301\u200b\ufeff zero width",
    "word " * 200_000,
]


def run_main(name: str, *args) -> object:
    """Run scripts/<name>.py's main() with these command-line arguments."""
    module = load_script(name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", [f"{name}.py", *map(str, args)])
        return module.main()


@pytest.fixture(scope="module")
def attn_model(tmp_path_factory, toy_data_dir):
    """An attn_bilstm trained for one epoch on the toy data by scripts/train.py."""
    output_dir = tmp_path_factory.mktemp("attn_bilstm")
    run_main(
        "train", "--model_type", "attn_bilstm", "--config_overrides", TINY_RNN_OVERRIDES, "--dataset",
        "tweet_sentiment", "--data_dir", toy_data_dir, "--output_dir", output_dir, "--num_train_epochs", "1",
        "--per_device_train_batch_size", "16", "--seed", "0", "--disable_tqdm", "true",
    )  # fmt: skip
    return output_dir


@pytest.fixture(scope="module")
def lstm_model(tmp_path_factory, attn_model):
    """An untrained LSTM with the trained model's word-level tokenizer."""
    folder = tmp_path_factory.mktemp("lstm")
    tokenizer = AutoTokenizer.from_pretrained(attn_model)
    config = LSTMConfig(
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, embedding_dim=16, hidden_size=8, **LABEL_IDS
    )
    AutoModelForSequenceClassification.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_bert(folder, labels: list[str], bert_tokenizer_dir):
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)},
    )  # fmt: skip
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(bert_tokenizer_dir).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def bert_model(tmp_path_factory, bert_tokenizer_dir):
    """A tiny random BERT classifier with the toy data's labels and the MiniLM (bert-base-uncased) tokenizer."""
    return tiny_bert(tmp_path_factory.mktemp("bert"), LABELS, bert_tokenizer_dir)


def assert_png(path, min_width=150, min_height=80):
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width >= min_width and image.height >= min_height, image.size


def assert_valid_result(result: dict, text: str):
    assert result["text"] == text
    assert set(result["probabilities"]) == set(LABELS)
    probabilities = list(result["probabilities"].values())
    assert all(math.isfinite(p) and 0 <= p <= 1 for p in probabilities)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
    assert result["label"] == max(result["probabilities"], key=result["probabilities"].get)
    assert result["confidence"] == pytest.approx(max(probabilities))


# evaluate_model.py


def test_evaluate_writes_metrics_and_reports(attn_model, toy_data_dir):
    results = run_main(
        "evaluate_model", "--model", attn_model, "--dataset", "tweet_sentiment", "--data_dir", toy_data_dir,
        "--split", "validation", "--latency_samples", "20", "--batch_size", "16",
    )  # fmt: skip
    output_dir = attn_model / "eval-tweet_sentiment-validation"  # the default
    metrics = json.loads((output_dir / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(results))
    assert metrics["num_samples"] == 60

    # The same model on the same split as the training run's final evaluation: the same figures.
    trained = json.loads((attn_model / "all_results.json").read_text())
    assert metrics["accuracy"] == pytest.approx(trained["eval_accuracy"], abs=1 / 60 + 1e-9)
    assert metrics["f1_macro"] == pytest.approx(trained["eval_f1_macro"], abs=0.03)
    assert metrics["loss"] == pytest.approx(trained["eval_loss"], rel=1e-3)

    with (output_dir / "validation_predictions.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 60 and list(rows[0]) == ["text", "label", "predicted_label", "confidence"]
    assert metrics["accuracy"] == pytest.approx(sum(r["label"] == r["predicted_label"] for r in rows) / 60)
    assert sum(sum(row) for row in metrics["confusion_matrix"]) == 60
    assert [metrics["per_class"][name]["support"] for name in LABELS] == [20, 20, 20]
    for key in ("f1_weighted", "precision_macro", "recall_macro", "precision_weighted", "recall_weighted"):
        assert 0 <= metrics[key] <= 1, key

    model = AutoModelForSequenceClassification.from_pretrained(attn_model)
    assert metrics["num_parameters"] == sum(p.numel() for p in model.parameters())
    assert metrics["latency_batch_1_texts"] == 20
    assert metrics["latency_ms_batch_1_median"] > 0 and metrics["latency_ms_per_text_batched"] > 0
    assert metrics["throughput_texts_per_s"] == pytest.approx(1000 / metrics["latency_ms_per_text_batched"])
    for name in ("confusion_matrix.png", "per_class_f1.png", "training_curves.png"):
        assert_png(output_dir / name, min_width=300)
    report = (output_dir / "classification_report.txt").read_text()
    assert all(name in report for name in LABELS)


def test_evaluate_refuses_a_model_with_other_labels(tmp_path, toy_data_dir, capsys, bert_tokenizer_dir):
    folder = tiny_bert(tmp_path / "bert2", ["ham", "spam"], bert_tokenizer_dir)
    with pytest.raises(SystemExit) as exit_info:
        run_main("evaluate_model", "--model", folder, "--dataset", "tweet_sentiment", "--data_dir", toy_data_dir)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "['ham', 'spam']" in error and "['negative', 'neutral', 'positive']" in error
    assert not (folder / "eval-tweet_sentiment-test").exists()


# predict.py


def test_predict_explains_an_attn_bilstm(attn_model, tmp_path, capsys):
    texts = ["good great love", "bad awful terrible", "the meeting today"]
    results = run_main("predict", "--model", attn_model, "--explain", "--json", "--output_dir", tmp_path, *texts)
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == results
    for result, text in zip(results, texts):
        assert_valid_result(result, text)
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"attention_00{i}.png" for i in (1, 2, 3)]
    for path in tmp_path.iterdir():
        assert_png(path)


def test_predict_explains_a_transformer(bert_model, tmp_path, capsys):
    results = run_main("predict", "--model", bert_model, "--explain", "--output_dir", tmp_path, "a fine day")
    assert_valid_result(results[0], "a fine day")
    assert_png(tmp_path / "attention_001.png")
    out = capsys.readouterr().out
    assert results[0]["label"] in out and "attention_001.png" in out


def test_heatmap_tokens_leave_out_cls_and_sep(bert_tokenizer_dir):
    predict = load_script("predict")
    tokenizer = AutoTokenizer.from_pretrained(bert_tokenizer_dir)
    ids = tokenizer("hello world")["input_ids"]  # [CLS] hello world [SEP]
    tokens, weights = predict.shown_tokens(ids, np.array([0.4, 0.3, 0.2, 0.1]), tokenizer)
    assert tokens == ["hello", "world"] and weights.tolist() == pytest.approx([0.3, 0.2])
    tokens, _ = predict.shown_tokens(tokenizer("")["input_ids"], np.array([0.5, 0.5]), tokenizer)
    assert tokens == ["[CLS]", "[SEP]"]  # nothing else to show


def test_predict_says_an_lstm_has_no_attention(lstm_model, tmp_path, capsys):
    results = run_main(
        "predict", "--model", lstm_model, "--explain", "--method", "attention", "--output_dir", tmp_path, "good", "bad"
    )
    captured = capsys.readouterr()
    assert "lstm models have no attention weights" in captured.err
    assert captured.err.count("no attention") == 1
    assert len(captured.out.splitlines()) == 2  # the predictions still come
    assert len(results) == 2 and "attention_plot" not in results[0]
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("model_fixture", ["attn_model", "bert_model"])
def test_predict_survives_odd_texts(model_fixture, request, tmp_path, capsys):
    folder = request.getfixturevalue(model_fixture)
    results = run_main("predict", "--model", folder, "--explain", "--json", "--output_dir", tmp_path, *ODD_TEXTS)
    assert len(results) == len(ODD_TEXTS)
    for result, text in zip(results, ODD_TEXTS):
        assert_valid_result(result, text)
    assert len(capsys.readouterr().out.splitlines()) == len(ODD_TEXTS)
    assert len(list(tmp_path.glob("attention_*.png"))) == len(ODD_TEXTS)


def test_predict_reads_a_file_and_stdin(attn_model, tmp_path, capsys, monkeypatch):
    lines = tmp_path / "texts.txt"
    lines.write_bytes(b"good\r\n\nbad \x1c awful\n\xff\xfe broken utf-8\n")
    results = run_main("predict", "--model", attn_model, "--file", lines)
    assert [r["text"] for r in results] == ["good", "", "bad \x1c awful", "\ufffd\ufffd broken utf-8"]
    assert len(capsys.readouterr().out.splitlines()) == 4

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("one\ntwo 😀\n".encode()), encoding="utf-8"))
    results = run_main("predict", "--model", attn_model, "--json")
    assert [r["text"] for r in results] == ["one", "two 😀"]

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(SystemExit):
        run_main("predict", "--model", attn_model)
    assert "no texts to classify" in capsys.readouterr().err
