"""scripts/train.py end to end: every recurrent model type trains, saves and loads back."""

import csv
import json

import pytest
import torch
from conftest import TINY_RNN_OVERRIDES, tiny_overrides, toy_rows
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from modeling.registry import MODEL_SPECS

RNN_TYPES = [name for name, spec in MODEL_SPECS.items() if not spec.is_pretrained]
RESULT_KEYS = [
    f"{split}_{metric}"
    for split in ("eval", "test")
    for metric in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted", "loss")
]


def quick_args(output_dir, data_dir, *extra):
    return [
        "--dataset", "tweet_sentiment", "--data_dir", data_dir, "--output_dir", output_dir,
        "--num_train_epochs", "1", "--per_device_train_batch_size", "16", "--seed", "0",
        "--disable_tqdm", "true", *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("model_type", RNN_TYPES)
def test_train_saves_a_loadable_model_and_results(run_script, tmp_path, toy_data_dir, model_type):
    output_dir = tmp_path / model_type
    run_script(
        "train", "--model_type", model_type, "--config_overrides", tiny_overrides(model_type),
        *quick_args(output_dir, toy_data_dir),
    )  # fmt: skip
    results = json.loads((output_dir / "all_results.json").read_text())
    for key in RESULT_KEYS:
        assert key in results, key
    assert 0 < results["trainable_params"] <= results["total_params"]
    training_args = json.loads((output_dir / "training_args.json").read_text())
    assert training_args["dataloader_pin_memory"] == torch.cuda.is_available()  # pinned memory only helps a GPU
    assert training_args["adversarial_epsilon"] == 0.0  # off unless asked for

    model = AutoModelForSequenceClassification.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    assert model.config.model_type == model_type
    assert model.config.id2label == {0: "negative", 1: "neutral", 2: "positive"}
    assert model.config.vocab_size == len(tokenizer)
    assert model.config.text_truncation == "head_tail"  # the default, kept for predict.py and evaluate_model.py
    with torch.no_grad():
        logits = model(**tokenizer(["good great love", "bad awful"], padding=True, return_tensors="pt")).logits
    assert logits.shape == (2, 3)
    # One row per test text, in the data's order, each beside its own label (evaluation batches run longest first).
    with (output_dir / "test_predictions.csv").open(newline="", encoding="utf-8") as handle:
        rows = [(row["text"], row["label"]) for row in csv.DictReader(handle)]
    assert rows == [(row["text"], row["label"]) for row in toy_rows(60, 2)]
    assert (output_dir / "classification_report.txt").is_file()


def test_overwrite_removes_the_previous_runs_files_only(run_script, tmp_path, toy_data_dir):
    output_dir = tmp_path / "reused"
    (output_dir / "checkpoint-7").mkdir(parents=True)
    stale = {  # a LoRA run's adapter, metrics and card, as an earlier run into this folder would leave them
        "adapter_config.json": '{"peft_type": "LORA"}',
        "all_results.json": '{"stale_metric": 1.0}',
        "README.md": "---\nbase_model: bert-base-uncased\n---\n",
    }
    for name, content in stale.items():
        (output_dir / name).write_text(content)
    (output_dir / "notes.txt").write_text("mine")
    run_script(
        "train", "--model_type", "gru", "--config_overrides", "embedding_dim=16,hidden_size=8",
        *quick_args(output_dir, toy_data_dir), "--overwrite_output_dir",
    )  # fmt: skip
    assert not (output_dir / "adapter_config.json").exists() and not (output_dir / "checkpoint-7").exists()
    assert "stale_metric" not in json.loads((output_dir / "all_results.json").read_text())
    assert "bert-base-uncased" not in (output_dir / "README.md").read_text()
    assert (output_dir / "notes.txt").read_text() == "mine"  # not the script's: left alone


def test_config_overrides_read_booleans_and_lists(run_script, tmp_path, toy_data_dir):
    output_dir = tmp_path / "overrides"
    overrides = "embedding_dim=16,hidden_size=8,num_filters=4,kernel_sizes=[2,3,4],bidirectional=false"
    run_script(
        "train", "--model_type", "cnn_lstm", "--config_overrides", overrides, *quick_args(output_dir, toy_data_dir)
    )
    config = json.loads((output_dir / "config.json").read_text())
    assert (config["kernel_sizes"], config["bidirectional"]) == ([2, 3, 4], False)  # "false" is not a true string


def test_the_data_configs_cut_is_used_and_saved_unless_a_flag_names_another(run_script, tmp_path, toy_data_dir):
    config_path = tmp_path / "news.yaml"
    config_path.write_text("name: news\nlabel_names: [negative, neutral, positive]\ntruncation: head\n")
    for flag, expected in (([], "head"), (["--truncation", "head_tail"], "head_tail")):
        output_dir = tmp_path / expected
        run_script(
            "train", "--model_type", "lstm", "--config_overrides", "embedding_dim=16,hidden_size=8",
            *quick_args(output_dir, toy_data_dir, "--dataset", config_path, *flag),
        )  # fmt: skip
        assert json.loads((output_dir / "config.json").read_text())["text_truncation"] == expected


def test_a_recurrent_model_pads_a_pretrained_tokenizer_on_the_right(
    run_script, tmp_path, toy_data_dir, bert_tokenizer_dir
):
    tokenizer_dir = tmp_path / "left-padding"
    tokenizer = AutoTokenizer.from_pretrained(bert_tokenizer_dir)
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(tokenizer_dir)
    output_dir = tmp_path / "lstm"
    run_script(
        "train", "--model_type", "lstm", "--config_overrides", "embedding_dim=16,hidden_size=8",
        "--tokenizer_name", tokenizer_dir, *quick_args(output_dir, toy_data_dir),
    )  # fmt: skip
    assert AutoTokenizer.from_pretrained(output_dir).padding_side == "right"


def test_a_first_n_of_fewer_classes_is_warned_about(run_script, tmp_path, toy_data_dir, caplog):
    output_dir = tmp_path / "few"  # the toy test split cycles through its 3 classes: its first 2 rows hold 2
    run_script(
        "train", "--model_type", "gru", "--config_overrides", "embedding_dim=16,hidden_size=8",
        *quick_args(output_dir, toy_data_dir), "--max_test_samples", "2",
    )  # fmt: skip
    assert "the first 2 test rows hold 2 of the split's 3 classes" in caplog.text


def test_a_json_file_of_arguments_gets_the_same_defaults_as_flags(run_script, tmp_path, toy_data_dir):
    output_dir = tmp_path / "from-json"
    arguments = tmp_path / "args.json"
    arguments.write_text(json.dumps({
        "model_type": "gru", "config_overrides": "embedding_dim=16,hidden_size=8", "dataset": "tweet_sentiment",
        "data_dir": str(toy_data_dir), "output_dir": str(output_dir), "num_train_epochs": 1, "disable_tqdm": True,
    }))  # fmt: skip
    run_script("train", arguments)
    recorded = json.loads((output_dir / "training_args.json").read_text())
    # The recurrent types' defaults and this script's, as with flags (the Trainer's own would be 5e-5, no eval, ...).
    assert (recorded["learning_rate"], recorded["label_smoothing_factor"]) == (2e-3, 0.1)
    assert (recorded["eval_strategy"], recorded["metric_for_best_model"]) == ("epoch", "f1_macro")


@pytest.mark.slow  # about a minute: 3,000 real tweets, 4 epochs
def test_attn_bilstm_learns_real_tweets(run_script, tmp_path):
    """A short real run on the bundled tweet_sentiment data must clearly beat the majority class."""
    output_dir = tmp_path / "attn"
    run_script(
        "train", "--model_type", "attn_bilstm", "--dataset", "tweet_sentiment", "--output_dir", output_dir,
        "--max_train_samples", "6000", "--max_eval_samples", "500", "--max_test_samples", "1000",
        "--config_overrides", "embedding_dim=64,hidden_size=32", "--num_train_epochs", "2",
        "--disable_tqdm", "true", "--seed", "0",
    )  # fmt: skip
    results = json.loads((output_dir / "all_results.json").read_text())
    majority = 0.429  # negative: 1599 of the 3727 test tweets; about the same in the first 1000
    assert results["test_accuracy"] > majority + 0.15, results["test_accuracy"]


def test_glove_and_tfidf_options(run_script, tmp_path, toy_data_dir):
    glove = tmp_path / "vectors.txt"
    glove.write_text("good " + " ".join(["0.5"] * 16) + "\nbad " + " ".join(["-0.5"] * 16) + "\n")
    output_dir = tmp_path / "glove"
    run_script(
        "train", "--model_type", "attn_bilstm", "--config_overrides", TINY_RNN_OVERRIDES,
        "--glove_path", glove, "--freeze_embeddings", "--tfidf_weighting", *quick_args(output_dir, toy_data_dir),
    )  # fmt: skip
    model = AutoModelForSequenceClassification.from_pretrained(output_dir)
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    good = model.get_input_embeddings().weight[tokenizer.convert_tokens_to_ids("good")]
    torch.testing.assert_close(good, torch.full((16,), 0.5))  # frozen: still the GloVe vector
    weights = model.encoder.embeddings.token_weights
    assert weights[tokenizer.convert_tokens_to_ids("the")] < weights[tokenizer.convert_tokens_to_ids("good")]


def test_pretrained_tokenizer_for_an_rnn(run_script, tmp_path, toy_data_dir, bert_tokenizer_dir):
    output_dir = tmp_path / "wordpiece"
    run_script(
        "train", "--model_type", "gru", "--tokenizer_name", bert_tokenizer_dir, "--config_overrides",
        "embedding_dim=16,hidden_size=8", *quick_args(output_dir, toy_data_dir),
    )  # fmt: skip
    vocab_size = len(AutoTokenizer.from_pretrained(bert_tokenizer_dir))
    assert len(AutoTokenizer.from_pretrained(output_dir)) == vocab_size
    assert AutoModelForSequenceClassification.from_pretrained(output_dir).config.vocab_size == vocab_size


@pytest.mark.parametrize("keep", [False, True])
def test_a_finished_run_removes_its_checkpoints_unless_told_to_keep_them(run_script, tmp_path, toy_data_dir, keep):
    output_dir = tmp_path / "run"
    run_script(
        "train", "--model_type", "gru", "--config_overrides", tiny_overrides("gru"),
        *quick_args(output_dir, toy_data_dir), *(["--keep_checkpoints"] if keep else []),
    )  # fmt: skip
    assert bool(list(output_dir.glob("checkpoint-*"))) == keep
    assert (output_dir / "model.safetensors").is_file()
