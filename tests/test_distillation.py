"""Distillation: the loss, the augmented transfer set, the teacher's cached logits, and train.py end to end."""

import csv
import json
import math
import shutil
import sys

import numpy as np
import pytest
import torch
from conftest import TINY_RNN_OVERRIDES, load_script, toy_rows
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import modeling.distillation as distillation
from modeling.data import train_word_tokenizer
from modeling.data.augmentation import MASK_WORD, augment_texts
from modeling.errors import UserInputError
from modeling.training.distillation import NO_LABEL, DistillationCollator, distillation_loss

LABELS = ["negative", "neutral", "positive"]


# --- the loss -------------------------------------------------------------------------------------------------

STUDENT = [[1.0, -0.5, 0.2], [0.3, 0.8, -1.2], [-0.4, 0.1, 2.0]]
TEACHER = [[2.0, -1.0, 0.0], [0.0, 1.5, -0.5], [-1.0, 0.5, 1.0]]


def _softmax(row, temperature=1.0):
    exps = [math.exp(value / temperature) for value in row]
    return [value / sum(exps) for value in exps]


def _hand_soft(kind: str, temperature: float) -> float:
    if kind == "mse":  # squared distance between the logit vectors, summed over classes, mean over rows
        return sum(sum((s - t) ** 2 for s, t in zip(srow, trow)) for srow, trow in zip(STUDENT, TEACHER)) / 3
    total = 0.0  # KL(teacher || student) at the temperature, times its square, mean over rows
    for srow, trow in zip(STUDENT, TEACHER):
        p, q = _softmax(trow, temperature), _softmax(srow, temperature)
        total += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    return total / 3 * temperature**2


def _hand_hard(labels, smoothing: float, weights=(1.0, 1.0, 1.0)) -> float:
    """Cross-entropy with label smoothing over the rows with a gold label, weighted by class (PyTorch's weighting)."""
    total = norm = 0.0
    for row, label in zip(STUDENT, labels):
        if label < 0:
            continue
        log_p = [math.log(p) for p in _softmax(row)]
        total += -(1 - smoothing) * weights[label] * log_p[label]
        total += -smoothing * sum(w * lp for w, lp in zip(weights, log_p)) / len(log_p)
        norm += weights[label]
    return total / norm if norm else 0.0


@pytest.mark.parametrize("kind", ["mse", "kl"])
@pytest.mark.parametrize("labels", [[0, NO_LABEL, 2], [NO_LABEL] * 3, [1, 1, 0]])
@pytest.mark.parametrize("weights", [None, (0.5, 2.0, 1.5)])
def test_the_loss_is_the_hand_computed_mix_of_soft_and_hard(kind, labels, weights):
    alpha, temperature, smoothing = 0.7, 3.0, 0.1
    loss = distillation_loss(
        torch.tensor(STUDENT),
        torch.tensor(TEACHER),
        torch.tensor(labels),
        kind=kind,
        alpha=alpha,
        temperature=temperature,
        label_smoothing=smoothing,
        class_weights=None if weights is None else torch.tensor(weights),
    )
    hard = _hand_hard(labels, smoothing, weights or (1.0, 1.0, 1.0))
    expected = alpha * _hand_soft(kind, temperature) + (1 - alpha) * hard
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_the_loss_trains_the_student_even_without_gold_labels():
    student = torch.tensor(STUDENT, requires_grad=True)
    distillation_loss(student, torch.tensor(TEACHER), torch.tensor([NO_LABEL] * 3), alpha=0.5).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0


def test_the_collator_stacks_teacher_logits_beside_the_padded_inputs():
    def pad(features):
        width = max(len(f["input_ids"]) for f in features)
        ids = torch.tensor([f["input_ids"] + [0] * (width - len(f["input_ids"])) for f in features])
        return {"input_ids": ids, "labels": torch.tensor([f["label"] for f in features])}

    batch = DistillationCollator(pad)(
        [
            {"input_ids": [5, 6, 7], "label": 0, "teacher_logits": [1.0, 2.0, 3.0]},
            {"input_ids": [8], "label": NO_LABEL, "teacher_logits": [0.5, 0.0, -1.0]},
        ]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [0, NO_LABEL]
    assert batch["teacher_logits"].dtype == torch.float32
    assert batch["teacher_logits"].tolist() == [[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]]


# --- augmentation and the transfer set ------------------------------------------------------------------------


def test_augmentation_is_seeded_and_keeps_words_in_order():
    texts = [row["text"] for row in toy_rows(50, 0)]
    first = augment_texts(texts, copies=3, seed=7, mask_probability=0.3, ngram_probability=0.5)
    assert first == augment_texts(texts, copies=3, seed=7, mask_probability=0.3, ngram_probability=0.5)
    assert first != augment_texts(texts, copies=3, seed=8, mask_probability=0.3, ngram_probability=0.5)
    assert len(first) == 150
    # The copies of the first texts do not depend on the texts after them.
    assert augment_texts(texts[:10], 3, 7, 0.3, 0.5) == first[:30]
    masked = spans = 0
    for i, copy in enumerate(first):
        words, copied = texts[i // 3].split(), copy.split()
        spans += len(copied) < len(words)
        masked += copied.count(MASK_WORD)
        # A copy is a run of consecutive words of its text, some of them masked.
        assert any(
            all(c in (w, MASK_WORD) for c, w in zip(copied, words[start:]))
            for start in range(len(words) - len(copied) + 1)
        )
        assert len(copied) == len(words) or len(copied) <= 5
    assert masked > 0 and spans > 0
    assert augment_texts(texts, 2, 7, mask_probability=0.0, ngram_probability=0.0) == [t for t in texts for _ in "ab"]


def test_the_transfer_set_keeps_the_gold_labels_and_gives_copies_none(toy_data_dir, tmp_path):
    import datasets

    train = datasets.Dataset.from_dict(
        {"text": ["good great", "bad awful day", "the table"], "label": [2, 0, 1]},
        features=datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=LABELS)}),
    )
    before = train.to_dict()
    unlabeled = tmp_path / "more.txt"
    unlabeled.write_text("first extra text\n\nsecond extra text\n")
    extra = distillation.read_unlabeled_texts(unlabeled)
    assert extra == ["first extra text", "second extra text"]
    transfer = distillation.build_transfer_set(train, 2, seed=0, mask_probability=0.5, ngram_probability=0.5,
                                               unlabeled_texts=extra)  # fmt: skip
    assert train.to_dict() == before
    assert transfer["text"][:3] == train["text"] and transfer["label"][:3] == train["label"]
    assert transfer["label"][3:] == [NO_LABEL] * 8
    assert transfer["text"][-2:] == extra
    assert transfer.features["label"].names == LABELS
    assert transfer.to_dict() == distillation.build_transfer_set(train, 2, 0, 0.5, 0.5, extra).to_dict()


def test_unlabeled_files_of_each_kind_are_read(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "one", "id": 1}\n{"text": "two", "id": 2}\n')
    (tmp_path / "b.csv").write_text('id,text\n1,one\n2,"two, with a comma"\n')
    (tmp_path / "c.csv").write_text("id,body\n1,one\n")
    assert distillation.read_unlabeled_texts(tmp_path / "a.jsonl") == ["one", "two"]
    assert distillation.read_unlabeled_texts(tmp_path / "b.csv") == ["one", "two, with a comma"]
    with pytest.raises(UserInputError, match="no `text` column"):
        distillation.read_unlabeled_texts(tmp_path / "c.csv")


def test_both_kinds_of_tokenizer_read_the_mask_word_as_their_unknown_token(bert_tokenizer_dir):
    words = train_word_tokenizer(["good great", "bad awful"], min_frequency=1)
    bert = AutoTokenizer.from_pretrained(bert_tokenizer_dir)
    for tokenizer in (words, bert):
        ids = tokenizer(f"good {MASK_WORD} bad", add_special_tokens=False)["input_ids"]
        assert ids == [
            tokenizer.convert_tokens_to_ids("good"),
            tokenizer.unk_token_id,
            tokenizer.convert_tokens_to_ids("bad"),
        ]


# --- the teacher and its cached logits ------------------------------------------------------------------------


def run_train(*args):
    """train.py's main in this process (a module-scoped fixture cannot use `run_script`)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["train.py", *map(str, args)])
        load_script("train").main()


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory, toy_data_dir, tiny_transformer_dir):
    """A tiny BERT fine-tuned by train.py for one epoch on the toy data: a teacher folder as users make them."""
    folder = tmp_path_factory.mktemp("teacher") / "bert"
    run_train(
        "--model_type", "bert", "--model_name_or_path", tiny_transformer_dir("bert"), "--data_dir", toy_data_dir,
        "--output_dir", folder, "--num_train_epochs", "1", "--learning_rate", "1e-3", "--seed", "0",
        "--disable_tqdm", "true",
    )  # fmt: skip
    return folder


@pytest.fixture
def teacher_calls(monkeypatch):
    """Counts how often the teacher's weights are loaded and how many texts it runs on."""
    calls = {"loads": 0, "texts": 0}
    load = distillation.load_teacher_model

    def counting_load(folder, device):
        calls["loads"] += 1
        model = load(folder, device)
        model.register_forward_hook(lambda module, args, kwargs, output: calls.__setitem__(
            "texts", calls["texts"] + kwargs["input_ids"].shape[0]), with_kwargs=True)  # fmt: skip
        return model

    monkeypatch.setattr(distillation, "load_teacher_model", counting_load)
    return calls


def test_the_teacher_runs_once_per_text_and_its_logits_are_cached(teacher_dir, teacher_calls, tmp_path):
    texts = ["good great love", "bad awful", "good great love", "the table today was fine", "", "bad awful"]
    teacher = distillation.load_teacher(str(teacher_dir), LABELS, torch.device("cpu"), batch_size=2)
    logits = distillation.teacher_logits(teacher, texts, tmp_path)
    assert teacher_calls == {"loads": 1, "texts": 4}  # four distinct texts, each run once
    assert logits.shape == (6, 3) and logits.dtype == np.float32
    assert np.array_equal(logits[0], logits[2]) and np.array_equal(logits[1], logits[5])
    # The same logits as the teacher gives each text alone, unpadded: sorting and batching change nothing.
    model = AutoModelForSequenceClassification.from_pretrained(teacher_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    with torch.no_grad():
        alone = torch.cat([model(**tokenizer(text, return_tensors="pt")).logits for text in texts]).numpy()
    np.testing.assert_allclose(logits, alone, atol=1e-5)

    # Another run (a new teacher object, as a second student or a resumed run makes) reads the cache.
    again = distillation.load_teacher(str(teacher_dir), LABELS, torch.device("cpu"))
    np.testing.assert_array_equal(distillation.teacher_logits(again, texts, tmp_path), logits)
    assert teacher_calls == {"loads": 1, "texts": 4}
    # Other texts, or a changed teacher, are another key.
    distillation.teacher_logits(again, texts[:2], tmp_path)
    assert teacher_calls["texts"] == 6
    assert len(list(tmp_path.glob("*.npy"))) == 2 and not list(tmp_path.glob("*partial*"))


def test_a_teacher_with_other_weights_gets_other_cached_logits(teacher_dir, tmp_path):
    copy = tmp_path / "teacher"
    shutil.copytree(teacher_dir, copy)
    first = distillation.cache_key(distillation.load_teacher(str(copy), LABELS, torch.device("cpu")), ["a", "b"])
    weights = next(copy.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes())  # rewritten: a new modification time, as after another training
    second = distillation.cache_key(distillation.load_teacher(str(copy), LABELS, torch.device("cpu")), ["a", "b"])
    assert first != second


# --- train.py end to end --------------------------------------------------------------------------------------


def student_args(data_dir, output_dir, teacher, cache_dir, *extra):
    return [
        "--model_type", "attn_bilstm", "--config_overrides", TINY_RNN_OVERRIDES, "--data_dir", data_dir,
        "--output_dir", output_dir, "--teacher_model_name_or_path", teacher, "--teacher_cache_dir", cache_dir,
        "--max_train_samples", "120", "--augment_copies", "1", "--num_train_epochs", "1", "--seed", "0",
        "--disable_tqdm", "true", *extra,
    ]  # fmt: skip


def test_a_distilled_student_end_to_end(run_script, tmp_path, toy_data_dir, teacher_dir, teacher_calls):
    cache = tmp_path / "cache"
    output_dir = tmp_path / "student"
    run_script("train", *student_args(toy_data_dir, output_dir, teacher_dir, cache))
    # The teacher ran once on each distinct text of the transfer set; its test accuracy came from its own run.
    texts = [row["text"] for row in toy_rows(240, 0)][:120]
    assert teacher_calls == {"loads": 1, "texts": len(set(texts + augment_texts(texts, 1, 0, 0.1, 0.25)))}

    results = json.loads((output_dir / "all_results.json").read_text())
    teacher_results = json.loads((teacher_dir / "all_results.json").read_text())
    # The teacher's own run tested it on these very texts: its figure is taken as it stands.
    assert results["teacher_test_accuracy"] == teacher_results["test_accuracy"]
    assert 0 <= results["test_accuracy"] <= 1
    args = json.loads((output_dir / "training_args.json").read_text())
    assert args["teacher_model_name_or_path"] == str(teacher_dir.resolve())
    assert args["distillation_loss"] == "mse" and args["distillation_alpha"] == 0.9
    assert args["transfer_set_size"] == 240 and args["augment_copies"] == 1
    card = (output_dir / "README.md").read_text()
    assert "distilled from" in card and f"test accuracy {teacher_results['test_accuracy']:.4f}" in card

    # An ordinary model folder: it loads and predicts without anything of the teacher.
    model = AutoModelForSequenceClassification.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    assert model.config.model_type == "attn_bilstm" and model.config.id2label[2] == "positive"
    assert not any("teacher" in key for key in model.config.to_dict())
    with torch.no_grad():
        assert model(**tokenizer(["good great"], return_tensors="pt")).logits.shape == (1, 3)

    # A second student (another loss) on the same transfer set reads the teacher's logits from the cache.
    run_script("train", *student_args(toy_data_dir, tmp_path / "student-kl", teacher_dir, cache,
                                      "--distillation_loss", "kl"))  # fmt: skip
    assert teacher_calls["loads"] == 1
    kl = json.loads((tmp_path / "student-kl" / "training_args.json").read_text())
    assert kl["distillation_loss"] == "kl" and kl["teacher_test_accuracy"] == teacher_results["test_accuracy"]


def test_a_distilled_run_resumed_from_a_checkpoint_ends_as_the_whole_run(
    run_script, tmp_path, toy_data_dir, teacher_dir, teacher_calls, caplog
):
    cache = tmp_path / "cache"
    steps = ["--eval_strategy", "steps", "--save_strategy", "steps", "--eval_steps", "5", "--save_steps", "5",
             "--save_total_limit", "10", "--keep_checkpoints", "--num_train_epochs", "2",
             "--per_device_train_batch_size", "16"]  # fmt: skip
    output_dir = tmp_path / "run"
    run_script("train", *student_args(toy_data_dir, output_dir, teacher_dir, cache, *steps))
    assert teacher_calls["loads"] == 1
    whole = json.loads((output_dir / "all_results.json").read_text())

    # The run as a kill after step 15 (of 30) leaves it: checkpoints up to 15, in the same folder.
    finished = output_dir.rename(tmp_path / "finished")
    output_dir.mkdir()
    for step in (5, 10, 15):
        shutil.copytree(finished / f"checkpoint-{step}", output_dir / f"checkpoint-{step}")
    run_script("train", *student_args(toy_data_dir, output_dir, teacher_dir, cache, *steps),
               "--resume_from_checkpoint", "last")  # fmt: skip
    assert any("resuming from" in r.getMessage() and "checkpoint-15" in r.getMessage() for r in caplog.records)
    assert teacher_calls["loads"] == 1  # the resumed run read the cache: its transfer set is the same
    again = json.loads((output_dir / "all_results.json").read_text())
    for key in ("test_loss", "test_accuracy", "test_f1_macro", "eval_loss", "teacher_test_accuracy"):
        assert again[key] == pytest.approx(whole[key], abs=1e-6), key


def test_the_teachers_accuracy_is_computed_when_its_run_tested_other_texts(
    run_script, tmp_path, toy_data_dir, teacher_dir
):
    output_dir = tmp_path / "student"
    arguments = student_args(toy_data_dir, output_dir, teacher_dir, tmp_path / "cache")
    run_script("train", *arguments, "--max_train_samples", "48", "--augment_copies", "0", "--max_test_samples", "30")
    results = json.loads((output_dir / "all_results.json").read_text())
    with (teacher_dir / "test_predictions.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:30]
    expected = sum(row["label"] == row["predicted_label"] for row in rows) / 30
    assert results["teacher_test_accuracy"] == pytest.approx(expected, abs=1e-9)


# --- errors ---------------------------------------------------------------------------------------------------


def expect_error(run_script, capsys, output_dir, *args, match: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_script("train", *args)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("error: ") and match in lines[-1], lines[-1]
    assert not output_dir.exists() or not any(output_dir.iterdir()), "a failed run left files behind"


def test_teachers_that_cannot_teach_are_refused(
    run_script, capsys, tmp_path, toy_data_dir, teacher_dir, tiny_transformer_dir, multi_label_data
):
    output_dir = tmp_path / "out"

    def refused(teacher, match, *extra):
        arguments = student_args(toy_data_dir, output_dir, teacher, tmp_path / "cache", *extra)
        expect_error(run_script, capsys, output_dir, *arguments, match=match)

    # A pretrained checkpoint that was never fine-tuned on these labels: both lists are named.
    refused(
        tiny_transformer_dir("bert"),
        "has labels ['LABEL_0', 'LABEL_1'] but the data has ['negative', 'neutral', 'positive']",
    )
    refused(tmp_path / "missing", "neither a folder nor a Hub model")
    (tmp_path / "file.bin").write_text("x")
    refused(tmp_path / "file.bin", "is a file")
    (tmp_path / "empty").mkdir()
    refused(tmp_path / "empty", "holds no config.json")
    regression = tmp_path / "regression"
    shutil.copytree(teacher_dir, regression)
    config = json.loads((regression / "config.json").read_text())
    (regression / "config.json").write_text(json.dumps({**config, "problem_type": "regression"}))
    refused(regression, "single-label classification only")
    refused(teacher_dir, "--distillation_alpha must be in [0, 1]", "--distillation_alpha", "1.5")
    refused(teacher_dir, "--unlabeled_file", "--unlabeled_file", tmp_path / "nothing.txt")
    no_teacher = [
        "--model_type",
        "gru",
        "--data_dir",
        toy_data_dir,
        "--output_dir",
        output_dir,
        "--augment_copies",
        "2",
    ]
    expect_error(
        run_script, capsys, output_dir, *no_teacher, match="--augment_copies needs --teacher_model_name_or_path"
    )
    # Checked with the arguments, before any data are read: data of another problem type, and no training stage.
    refused(teacher_dir, "needs --do_train", "--do_eval")
    multi_label = [*no_teacher[:2], "--dataset", multi_label_data, "--output_dir", output_dir]
    expect_error(
        run_script, capsys, output_dir, *multi_label, "--teacher_model_name_or_path", teacher_dir,
        match="for single-label data; this data is multi_label_classification",
    )  # fmt: skip


def test_a_study_can_vary_the_teacher_with_none_for_no_teacher(monkeypatch):
    from modeling.arguments import parse_args

    study = load_script("study")
    assert "teacher_model_name_or_path" in study.train_flags() and "augment_copies" in study.train_flags()
    # The study's runs share the fixed flags: with 'none', the distillation flags are allowed and nothing distils.
    monkeypatch.setattr(sys, "argv", ["train.py", "--model_type", "gru", "--teacher_model_name_or_path", "none",
                                      "--augment_copies", "8"])  # fmt: skip
    distillation_args = parse_args()[3]
    assert distillation_args.teacher_model_name_or_path is None and distillation_args.augment_copies == 8


def test_a_lora_run_of_train_py_teaches_as_its_merged_model(run_script, tmp_path, toy_data_dir, tiny_transformer_dir):
    lora = tmp_path / "lora"
    run_script(
        "train", "--model_type", "bert", "--model_name_or_path", tiny_transformer_dir("bert"), "--data_dir",
        toy_data_dir, "--output_dir", lora, "--finetune_strategy", "lora", "--max_train_samples", "48",
        "--num_train_epochs", "1", "--disable_tqdm", "true",
    )  # fmt: skip
    texts = ["good great love", "bad awful day", "the table"]
    teacher = distillation.load_teacher(str(lora), LABELS, torch.device("cpu"))
    logits = distillation.teacher_logits(teacher, texts, tmp_path / "cache")
    merged = AutoModelForSequenceClassification.from_pretrained(lora).eval()  # the merged model, at the top
    tokenizer = AutoTokenizer.from_pretrained(lora)
    with torch.no_grad():
        expected = merged(**tokenizer(texts, padding=True, return_tensors="pt")).logits.numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-5)
