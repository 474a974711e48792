"""A trained folder gives the same answer however it is loaded: `pipeline()`, scripts/predict.py,
scripts/evaluate_model.py and the model card's snippets, on a LoRA run (a tiny BERT here, the pretrained MiniLM in
the slow test). The cut a model trained with travels with it, and a checkpoint whose head has another number of
labels is fine-tuned only when asked to."""

import contextlib
import csv
import io
import json
import sys

import numpy as np
import pytest
import torch
from conftest import load_script, write_jsonl_gz
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertForSequenceClassification, pipeline

from modeling.data import encode_texts

LABELS = ["negative", "neutral", "positive"]
SHORT_TEXTS = ["good great love", "bad awful", "the meeting today"]  # within every max_length used here


def run_main(name: str, *args) -> object:
    module = load_script(name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", [f"{name}.py", *map(str, args)])
        return module.main()


def train_args(checkpoint, output_dir, data_dir, *extra) -> list:
    return [
        "--model_type", "bert", "--model_name_or_path", checkpoint, "--dataset", "tweet_sentiment",
        "--data_dir", data_dir, "--output_dir", output_dir, "--num_train_epochs", "1",
        "--per_device_train_batch_size", "16", "--learning_rate", "1e-3", "--seed", "0", "--disable_tqdm", "true",
        *extra,
    ]  # fmt: skip


def card_snippets(folder) -> list[str]:
    """The python blocks of the card's "How to use" section, in order."""
    text = (folder / "README.md").read_text()
    usage = text[text.index("## How to use") : text.index("## Limitations")]
    return [block.split("\n```", 1)[0] for block in usage.split("```python\n")[1:]]


def as_array(scores: list[dict], id2label: dict) -> np.ndarray:
    """pipeline(top_k=None) scores of one text -> probabilities in label-id order."""
    by_label = {score["label"]: score["score"] for score in scores}
    return np.array([by_label[id2label[i]] for i in range(len(id2label))])


def probabilities(model, tokenizer, texts: list[str]) -> np.ndarray:
    with torch.no_grad():
        inputs = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        return model(**inputs).logits.softmax(-1).numpy()


def every_loader(folder, texts: list[str], tmp_path) -> tuple[dict[str, np.ndarray], dict]:
    """
    The class probabilities `(len(texts), num_labels)` of `texts` from each way of loading `folder`, and what
    evaluate_model.py wrote for the same texts (its predictions CSV rows and metrics.json).
    """
    id2label = AutoModelForSequenceClassification.from_pretrained(folder).config.id2label
    found = {}
    classifier = pipeline("text-classification", model=str(folder), device="cpu")
    found["pipeline"] = np.stack([as_array(s, id2label) for s in classifier(texts, top_k=None, truncation=True)])
    predicted = run_main("predict", "--model", folder, "--json", *texts)
    found["predict.py"] = np.array([[r["probabilities"][name] for name in id2label.values()] for r in predicted])

    main_snippet, adapter_snippet = card_snippets(folder)
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()):  # the snippet prints its example
        exec(main_snippet, namespace)
    found["card: model"] = probabilities(namespace["model"], namespace["tokenizer"], texts)
    found["card: pipeline"] = np.stack(
        [as_array(s, id2label) for s in namespace["classifier"](texts, top_k=None, truncation=True)]
    )
    exec(adapter_snippet, namespace)
    found["card: adapter"] = probabilities(namespace["adapter_model"].eval(), namespace["tokenizer"], texts)

    # evaluate_model.py reads a dataset: the same texts as the test split of a small data folder.
    data_dir, eval_dir = tmp_path / "eval-data", tmp_path / "eval"
    data_dir.mkdir()
    rows = [{"text": text, "label": LABELS[i % 3]} for i, text in enumerate(texts)]
    for split in ("train", "validation", "test"):
        write_jsonl_gz(data_dir / f"{split}.jsonl.gz", rows)
    run_main(
        "evaluate_model", "--model", folder, "--dataset", "tweet_sentiment", "--data_dir", data_dir,
        "--output_dir", eval_dir, "--latency_samples", "0",
    )  # fmt: skip
    with (eval_dir / "test_predictions.csv").open(newline="", encoding="utf-8") as handle:
        evaluated = {"rows": list(csv.DictReader(handle))}
    evaluated["metrics"] = json.loads((eval_dir / "metrics.json").read_text())
    return found, evaluated


def assert_all_agree(found: dict[str, np.ndarray], evaluated: dict, id2label: dict) -> None:
    reference = found["predict.py"]
    for name, probs in found.items():
        np.testing.assert_allclose(probs, reference, atol=1e-5, err_msg=name)
    for row, probs in zip(evaluated["rows"], reference):  # evaluate_model.py writes the confidence to 4 places
        assert row["predicted_label"] == id2label[int(probs.argmax())]
        assert float(row["confidence"]) == pytest.approx(probs.max(), abs=1e-4)


def test_a_lora_run_loads_alike_everywhere_and_keeps_its_cut(
    tmp_path, toy_data_dir, tiny_transformer_dir, bert_tokenizer_dir
):
    output_dir = tmp_path / "lora"
    run_main(
        "train",
        *train_args(
            tiny_transformer_dir("bert"), output_dir, toy_data_dir, "--finetune_strategy", "lora",
            "--max_length", "8", "--max_eval_samples", "30",
        ),
    )  # fmt: skip
    # The top is a plain model with the task's labels; nothing there makes transformers load an adapter on top.
    assert not (output_dir / "adapter_config.json").exists() and not (output_dir / "merged").exists()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    model = AutoModelForSequenceClassification.from_pretrained(output_dir).eval()
    assert model.config.id2label == dict(enumerate(LABELS))
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert tokenizer.model_max_length == 8 and model.config.text_truncation == "head_tail"
    adapter_dir = output_dir / "adapter"
    assert sorted(path.name for path in adapter_dir.iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json",
    ]  # fmt: skip
    base = json.loads((adapter_dir / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert base == str(tiny_transformer_dir("bert").resolve())  # absolute: it loads from anywhere

    found, evaluated = every_loader(output_dir, SHORT_TEXTS, tmp_path)
    assert_all_agree(found, evaluated, model.config.id2label)

    # A text longer than the 8 tokens trained with: predict.py and evaluate_model.py cut it as training did (start
    # and end), pipeline() with truncation=True at the same length from the start, as the card says.
    long_text = "the meeting today was really good and the report was great but the chair was awful"
    with torch.no_grad():

        def cut(truncation: str) -> np.ndarray:
            encoded = encode_texts(tokenizer, [long_text], 8, truncation)
            return model(**{k: torch.tensor(v) for k, v in encoded.items()}).logits.softmax(-1)[0].numpy()

        head_tail, head = cut("head_tail"), cut("head")
    (predicted,) = run_main("predict", "--model", output_dir, "--json", long_text)
    np.testing.assert_allclose([predicted["probabilities"][name] for name in LABELS], head_tail, atol=1e-5)
    (scores,) = pipeline("text-classification", model=str(output_dir), device="cpu")(
        [long_text], top_k=None, truncation=True
    )
    np.testing.assert_allclose(as_array(scores, model.config.id2label), head, atol=1e-5)
    assert evaluated["metrics"]["max_length"] == 8
    card = (output_dir / "README.md").read_text()
    assert "cuts a longer text to the 8 tokens the model trained with" in card
    assert "library_name: transformers" in card and "with LoRA adapters (merged into its weights)" in card

    # --max_eval_samples: the validation results stay out of the model-index and say what they cover.
    results = json.loads((output_dir / "all_results.json").read_text())
    assert (results["eval_samples"], results["eval_subsample"]) == (30, True)
    assert (results["test_samples"], results["test_subsample"]) == (60, False)
    assert "split: validation" not in card and "split: test" in card
    assert "| Metric | Validation (first 30 rows) | Test |" in card


@pytest.mark.slow
def test_a_lora_run_on_minilm_loads_alike_everywhere(tmp_path, minilm):
    output_dir = tmp_path / "minilm-lora"
    run_main(
        "train", "--model_type", "bert", "--model_name_or_path", minilm, "--finetune_strategy", "lora",
        "--dataset", "tweet_sentiment", "--max_train_samples", "200", "--max_eval_samples", "200",
        "--max_test_samples", "200", "--num_train_epochs", "1", "--output_dir", output_dir, "--disable_tqdm", "true",
    )  # fmt: skip
    assert not (output_dir / "adapter_config.json").exists()
    assert (output_dir / "adapter" / "adapter_config.json").is_file()
    model = AutoModelForSequenceClassification.from_pretrained(output_dir)
    assert model.config.num_labels == 3 and AutoTokenizer.from_pretrained(output_dir).model_max_length == 64
    texts = ["@united the flight was late again, worst service ever", "what a great day!", "meeting at 10 tomorrow"]
    found, evaluated = every_loader(output_dir, texts, tmp_path)
    assert_all_agree(found, evaluated, model.config.id2label)


def test_a_pretrained_tokenizer_saved_with_a_recurrent_model_carries_the_training_length(
    tmp_path, toy_data_dir, bert_tokenizer_dir
):
    # The transformers' tokenizers: the LoRA test above. The word-level tokenizers always carried it.
    output_dir = tmp_path / "lstm"
    run_main(
        "train", "--model_type", "lstm", "--config_overrides", "embedding_dim=16,hidden_size=8",
        "--tokenizer_name", bert_tokenizer_dir, "--dataset", "tweet_sentiment", "--data_dir", toy_data_dir,
        "--output_dir", output_dir, "--num_train_epochs", "1", "--disable_tqdm", "true", "--max_length", "12",
        "--truncation", "head",
    )  # fmt: skip
    assert AutoTokenizer.from_pretrained(bert_tokenizer_dir).model_max_length == 512
    assert AutoTokenizer.from_pretrained(output_dir).model_max_length == 12
    assert json.loads((output_dir / "config.json").read_text())["text_truncation"] == "head"
    metrics = run_main(
        "evaluate_model", "--model", output_dir, "--dataset", "tweet_sentiment", "--data_dir", toy_data_dir,
        "--output_dir", tmp_path / "eval", "--latency_samples", "0",
    )  # fmt: skip
    assert metrics["max_length"] == 12
    # An explicit --max_length wins.
    metrics = run_main(
        "evaluate_model", "--model", output_dir, "--dataset", "tweet_sentiment", "--data_dir", toy_data_dir,
        "--output_dir", tmp_path / "eval", "--latency_samples", "0", "--max_length", "20",
    )  # fmt: skip
    assert metrics["max_length"] == 20


@pytest.fixture
def two_label_checkpoint(tmp_path, tiny_transformer_dir):
    """The tiny BERT with a trained-looking 2-label classification head, as a sentiment checkpoint would have."""
    folder = tmp_path / "two-labels"
    base = tiny_transformer_dir("bert")
    BertForSequenceClassification.from_pretrained(base, num_labels=2).save_pretrained(folder)
    AutoTokenizer.from_pretrained(base).save_pretrained(folder)
    return folder


def test_a_head_of_another_size_needs_ignore_mismatched_sizes(two_label_checkpoint, tmp_path, toy_data_dir, capsys):
    refused = tmp_path / "refused"
    with pytest.raises(SystemExit) as exit_info:
        run_main("train", *train_args(two_label_checkpoint, refused, toy_data_dir))
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after the loading logs, one line
    assert error.startswith("error: --model_name_or_path") and "Traceback" not in error
    assert "its head has 2 labels, the data has 3" in error and "--ignore_mismatched_sizes" in error
    assert not refused.exists()

    output_dir = tmp_path / "fine-tuned"
    flags = ["--ignore_mismatched_sizes", "--finetune_strategy", "freeze"]  # freeze: the encoder stays as loaded
    run_main("train", *train_args(two_label_checkpoint, output_dir, toy_data_dir, *flags))
    model = AutoModelForSequenceClassification.from_pretrained(output_dir)
    assert model.config.id2label == dict(enumerate(LABELS)) and model.classifier.weight.shape == (3, 32)
    # The encoder's weights came from the checkpoint; only the head started afresh.
    before = BertForSequenceClassification.from_pretrained(two_label_checkpoint)
    layer, trained = before.bert.encoder.layer[0].output.dense, model.bert.encoder.layer[0].output.dense
    assert torch.equal(layer.weight, trained.weight)


def test_ignore_mismatched_sizes_is_for_the_transformers(tmp_path, toy_data_dir, capsys):
    with pytest.raises(SystemExit):
        run_main(
            "train", "--model_type", "lstm", "--dataset", "tweet_sentiment", "--data_dir", toy_data_dir,
            "--output_dir", tmp_path / "x", "--ignore_mismatched_sizes",
        )  # fmt: skip
    assert "--ignore_mismatched_sizes is for the pretrained transformer types" in capsys.readouterr().err
