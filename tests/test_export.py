"""scripts/export.py and the ONNX backends: every model type exports with PyTorch's probabilities, padding never
changes an ONNX prediction, int8 agrees with fp32, and bad folders get one-line errors."""

import csv
import json
import sys

import numpy as np
import pytest
import torch
from conftest import load_script, toy_rows
from scipy.special import softmax
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    DataCollatorWithPadding,
    DistilBertConfig,
)

from modeling.data import encode_texts, train_word_tokenizer
from modeling.export import GRAPH_FILES, export_folder, load_onnx_folder
from modeling.registry import get_model_spec, recurrent_specs

pytest.importorskip("onnxruntime")

LABELS = ["negative", "neutral", "positive"]
RECURRENT_TYPES = [spec.model_type for spec in recurrent_specs()]
MODEL_TYPES = [*RECURRENT_TYPES, "distilbert", "bert"]
# Texts of very unequal lengths (1 to 40 words), the longest cut by head_tail truncation at 24 tokens.
TEXTS = [
    "good",
    "the meeting was really so bad and awful today",
    "love it",
    " ".join(row["text"] for row in toy_rows(6, 5)),
    "a chair and a table",
]
MAX_LENGTH = 24


def run_main(name: str, *args) -> object:
    module = load_script(name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", [f"{name}.py", *map(str, args)])
        return module.main()


def spread_logits(model, recurrent: bool) -> None:
    """
    Initial weights give every text about the same probabilities (small word vectors, a small classifier; in the
    transformers, small weights everywhere): larger ones make them depend clearly on the text, without training.
    """
    with torch.no_grad():
        if recurrent:
            embeddings = model.get_input_embeddings()
            embeddings.weight.normal_(0.0, 1.0)
            embeddings.weight[embeddings.padding_idx] = 0.0
        else:
            for parameter in model.parameters():
                if parameter.dim() > 1:
                    parameter.normal_(0.0, 0.15)
        model.classifier.weight.mul_(10.0)


def make_model_folder(folder, model_type: str, bert_tokenizer_dir):
    """A random classifier of `model_type` (two layers, bidirectional where it can be) with its tokenizer."""
    labels = {"id2label": dict(enumerate(LABELS)), "label2id": {name: i for i, name in enumerate(LABELS)}}
    torch.manual_seed(0)
    if model_type in RECURRENT_TYPES:
        tokenizer = train_word_tokenizer((row["text"] for row in toy_rows(300, 0)), model_max_length=MAX_LENGTH)
        config_class = get_model_spec(model_type).config_class
        settings = {**config_class.tiny_settings, "num_layers": 2, "bidirectional": model_type != "auto_lstm"}
        if model_type == "attn_bilstm":
            settings["ngram_embedding_dim"] = 4  # the n-gram bag hashes ids: its integer arithmetic must export too
        config = config_class(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **settings, **labels)
    else:
        tokenizer = AutoTokenizer.from_pretrained(bert_tokenizer_dir, model_max_length=MAX_LENGTH)
        sizes = {"vocab_size": tokenizer.vocab_size, "max_position_embeddings": 64}
        if model_type == "bert":
            config = BertConfig(
                hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, **sizes, **labels
            )
        else:
            config = DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=37, **sizes, **labels)
    config.text_truncation = "head_tail"
    model = AutoModelForSequenceClassification.from_config(config)
    spread_logits(model, model_type in RECURRENT_TYPES)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def exported(tmp_path_factory, bert_tokenizer_dir):
    """model type -> (trained folder, export folder), exported on first use."""
    made = {}

    def make(model_type: str):
        if model_type not in made:
            root = tmp_path_factory.mktemp(model_type)
            folder = make_model_folder(root / "model", model_type, bert_tokenizer_dir)
            export_folder(folder, root / "onnx")
            made[model_type] = folder, root / "onnx"
        return made[model_type]

    return make


def batch_of(tokenizer, texts: list[str], truncation: str) -> dict:
    encoded = encode_texts(tokenizer, texts, MAX_LENGTH, truncation)
    rows = [dict(zip(encoded, row)) for row in zip(*encoded.values())]
    return DataCollatorWithPadding(tokenizer)(rows)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_onnx_probabilities_equal_pytorch_and_padding_changes_nothing(exported, model_type):
    folder, onnx_folder = exported(model_type)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    onnx_model, tokenizer = load_onnx_folder(onnx_folder)
    assert onnx_model.config.text_truncation == "head_tail" and tokenizer.model_max_length == MAX_LENGTH
    batch = batch_of(tokenizer, TEXTS, "head_tail")  # right-padded to the longest, 24 tokens
    lengths = batch["attention_mask"].sum(-1)
    assert lengths.max() == MAX_LENGTH and lengths.min() <= 3
    with torch.no_grad():
        expected = softmax(model(**batch).logits.numpy(), axis=-1)
    got = softmax(onnx_model(**batch).logits.numpy(), axis=-1)
    assert np.abs(got - expected).max() < 1e-4
    assert np.abs(expected - expected.mean(0)).max() > 0.05  # the texts get clearly different probabilities
    for i, text in enumerate(TEXTS):
        alone = softmax(onnx_model(**batch_of(tokenizer, [text], "head_tail")).logits.numpy(), axis=-1)
        assert np.abs(alone[0] - got[i]).max() < 1e-5, f"text {i} alone differs from the same text in the batch"


def test_export_folder_is_self_contained(exported):
    folder, onnx_folder = exported("attn_bilstm")
    names = {path.name for path in onnx_folder.iterdir()}
    assert {"model.onnx", "config.json", "tokenizer.json", "tokenizer_config.json"} <= names
    assert not any(name.endswith((".py", ".safetensors")) for name in names)
    config = json.loads((onnx_folder / "config.json").read_text())
    assert config["id2label"] == {str(i): name for i, name in enumerate(LABELS)}
    assert config["text_truncation"] == "head_tail" and "auto_map" not in config
    assert config["onnx"]["graphs"] == {"fp32": "model.onnx"} and config["onnx"]["output"] == "logits"
    onnx = pytest.importorskip("onnx")
    graph = onnx.load(str(onnx_folder / "model.onnx")).graph
    assert [tensor.name for tensor in graph.input] == ["input_ids", "attention_mask"]
    dims = [[d.dim_param or d.dim_value for d in tensor.type.tensor_type.shape.dim] for tensor in graph.input]
    assert dims == [["batch", "length"], ["batch", "length"]]
    assert {node.op_type for node in graph.node} >= {"LSTM"}  # the recurrence is ONNX's own LSTM node


def test_export_script_with_int8_and_predict_with_both_backends(exported, tmp_path, capsys):
    folder, _ = exported("lstm")
    summary = run_main("export", "--model", folder, "--quantize", "int8", "--output_dir", tmp_path / "onnx")
    assert summary["graphs"] == GRAPH_FILES and summary["max_abs_difference"]["fp32"] < 1e-4
    capsys.readouterr()
    torch_results = run_main("predict", "--model", folder, "--json", *TEXTS)
    for backend in ("onnx", "onnx_int8"):
        results = run_main("predict", "--model", tmp_path / "onnx", "--backend", backend, "--json", *TEXTS)
        assert [result["text"] for result in results] == TEXTS
        tolerance = 1e-4 if backend == "onnx" else 0.05
        for got, expected in zip(results, torch_results):
            assert got["probabilities"] == pytest.approx(expected["probabilities"], abs=tolerance)
            if backend == "onnx":
                assert got["label"] == expected["label"]


def test_evaluate_with_the_onnx_backend_gives_the_pytorch_metrics(exported, toy_data_dir, tmp_path):
    folder, onnx_folder = exported("gru")
    common = ("--dataset", "tweet_sentiment", "--data_dir", toy_data_dir, "--latency_samples", "5")
    expected = run_main("evaluate_model", "--model", folder, *common, "--output_dir", tmp_path / "torch")
    got = run_main(
        "evaluate_model", "--model", onnx_folder, "--backend", "onnx", *common, "--output_dir", tmp_path / "onnx"
    )
    assert got["accuracy"] == expected["accuracy"] and got["confusion_matrix"] == expected["confusion_matrix"]
    assert got["loss"] == pytest.approx(expected["loss"], abs=1e-5)
    assert got["num_parameters"] == pytest.approx(expected["num_parameters"], rel=0.1)  # the graph's own layout
    assert (tmp_path / "onnx" / "test_predictions.csv").is_file()


def test_bad_folders_get_one_line_errors(exported, tmp_path, capsys):
    folder, onnx_folder = exported("lstm")
    (tmp_path / "not_a_model").mkdir()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    cases = [
        (("export", "--model", tmp_path / "not_a_model"), "holds no config.json"),
        (("export", "--model", tmp_path / "missing"), "does not exist"),
        (("export", "--model", folder, "--output_dir", tmp_path / "taken"), "already exists and is not empty"),
        (("predict", "--model", folder, "--backend", "onnx", "good"), "holds no ONNX graph (model.onnx)"),
        (("predict", "--model", onnx_folder, "--backend", "onnx_int8", "good"), "--quantize int8"),
        (("predict", "--model", onnx_folder, "--backend", "onnx", "--explain", "good"), "needs the PyTorch model"),
    ]
    capsys.readouterr()  # what building the fixture's folders printed
    for args, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            run_main(*args)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1, err
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"


def test_a_missing_deploy_extra_names_the_pip_command(monkeypatch):
    import modeling.export

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # importing it now raises ImportError
    with pytest.raises(modeling.errors.UserInputError, match=r'pip install -e "\.\[deploy\]"'):
        modeling.export.load_onnx_folder("anything")


def test_benchmark_measures_and_tables_the_onnx_graphs(exported, toy_data_dir, tmp_path):
    """scripts/benchmark.py --onnx: the export's test figures, its timing inputs and its rows in the table."""
    import argparse
    import shutil

    from modeling.data import load_data_config, load_splits

    benchmark = load_script("benchmark")
    project_dir = tmp_path / "project"
    shutil.copytree(exported("attn_bilstm")[0], project_dir)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tweet_sentiment").symlink_to(toy_data_dir)
    args = argparse.Namespace(data_root=tmp_path / "data")
    figures = benchmark.onnx_figures("bilstm-tweet_sentiment", args, project_dir)
    # PyTorch's accuracy on the same test split (its texts are shorter than any cut): the fp32 graph's must match.
    model = AutoModelForSequenceClassification.from_pretrained(project_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(project_dir)
    test = load_splits(load_data_config("tweet_sentiment"), str(toy_data_dir))["test"]
    with torch.no_grad():
        predictions = model(**batch_of(tokenizer, list(test["text"]), "head_tail")).logits.argmax(-1).numpy()
    assert figures["onnx"]["test_accuracy"] == pytest.approx(float(np.mean(predictions == np.array(test["label"]))))
    assert set(figures) == {"onnx", "onnx_int8"} and 0 <= figures["onnx_int8"]["test_f1_macro"] <= 1
    assert (project_dir / "onnx" / "model_int8.onnx").is_file()

    forward, singles, batches = benchmark.project_timing_inputs(
        str(project_dir), "bilstm-tweet_sentiment", str(tmp_path / "data"), "onnx_int8"
    )
    assert forward(singles[0]).logits.shape == (1, 3) and batches[0]["input_ids"].shape[0] == len(test)

    peer = {"program": "seed_bilstm.py", "test_accuracy": 0.5, "latency_ms_b1": 2.0, "latency_ms_b64": 10.0}
    result = {"peer": peer, "project": {**peer, "program": "scripts/train.py", "latency_ms_b1": 1.0}}
    result["project_vs_peer"] = benchmark.compare(result["project"], peer)
    for backend, latency in (("onnx", 0.5), ("onnx_int8", 0.4)):
        result[backend] = {**figures[backend], "latency_ms_b1": latency, "latency_ms_b64": 4.0}
        result[f"{backend}_vs_peer"] = benchmark.compare(result[backend], peer)
    table = benchmark.format_table({"bilstm-tweet_sentiment": result})
    assert "| bilstm-tweet_sentiment | scripts/train.py, ONNX int8 |" in table
    assert "| bilstm-tweet_sentiment | **ONNX fp32 vs reference** |" in table
    assert "| 0.25× | 0.40× |" in table  # ONNX fp32: 0.5 ms against 2.0 at batch 1, 4.0 against 10.0 at 64


@pytest.mark.slow  # trains on 2,000 real tweets (about a minute on 2 cores)
def test_int8_agrees_with_fp32_on_real_tweets(tmp_path):
    folder = tmp_path / "model"
    run_main(
        "train", "--model_type", "attn_bilstm", "--dataset", "tweet_sentiment", "--max_train_samples", "2000",
        "--num_train_epochs", "1", "--output_dir", folder, "--disable_tqdm", "true", "--seed", "0",
    )  # fmt: skip
    run_main("export", "--model", folder, "--quantize", "int8", "--output_dir", tmp_path / "onnx")
    common = ("--dataset", "tweet_sentiment", "--max_samples", "1000", "--latency_samples", "0")
    predictions = {}
    for backend in ("onnx", "onnx_int8"):
        output = tmp_path / backend
        run_main("evaluate_model", "--model", tmp_path / "onnx", "--backend", backend, *common, "--output_dir", output)
        with (output / "test_predictions.csv").open() as handle:
            predictions[backend] = [row["predicted_label"] for row in csv.DictReader(handle)]
    agreement = np.mean(np.array(predictions["onnx"]) == np.array(predictions["onnx_int8"]))
    assert len(predictions["onnx"]) == 1000 and agreement >= 0.98, agreement
