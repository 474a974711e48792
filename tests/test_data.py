"""Data configs: every shipped YAML parses, bundled and local data load, and bad input gets a clear error."""

import csv
import gzip
import json

import datasets
import pytest
from conftest import toy_rows, write_jsonl_gz
from transformers import AutoTokenizer, PretrainedConfig

from modeling.data import (
    DATA_CONFIG_DIR,
    DataConfig,
    available_datasets,
    load_data_config,
    load_splits,
    saved_truncation,
    tokenize_splits,
)
from modeling.data.tokenization import train_word_tokenizer
from modeling.errors import UserInputError

REQUIRED = {
    "imdb",
    "20newsgroups",
    "sst2",
    "tweet_eval",
    "goodreads_spoilers",
    "ai_human",
    "bbc_news",
    "tweet_sentiment",
}


def test_every_required_config_ships_and_parses():
    assert REQUIRED <= set(available_datasets())
    for name in available_datasets():
        config = load_data_config(name)
        assert config.name == name
        assert config.max_length > 0
        assert config.hub_path or config.data_dir or config.data_files, name


@pytest.mark.parametrize("name, sizes", [("tweet_sentiment", (29785, 3721, 3727)), ("bbc_news", (1777, 221, 227))])
def test_bundled_datasets_load_offline(name, sizes):
    dataset = load_splits(load_data_config(name))
    assert tuple(len(dataset[split]) for split in ("train", "validation", "test")) == sizes
    assert dataset["train"].column_names == ["text", "label"]
    assert dataset["train"].features["label"].names == load_data_config(name).label_names


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(UserInputError, match="tweet_sentiment"):
        load_data_config("no_such_dataset")


def test_unknown_config_key_is_refused(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ntext_colum: text\n")
    with pytest.raises(UserInputError, match="text_colum"):
        load_data_config(str(path))


def test_a_config_names_how_long_texts_are_cut(tmp_path):
    assert load_data_config("imdb").truncation == "head_tail"  # the default: reviews end with their verdict
    assert load_data_config("bbc_news").truncation == "head"  # news says its topic first
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ntruncation: middle\n")
    with pytest.raises(UserInputError, match="truncation must be one of head_tail, head"):
        load_data_config(str(path))


@pytest.mark.parametrize("ending", ["jsonl", "jsonl.gz", "csv", "parquet"])
def test_data_dir_reads_every_supported_format(tmp_path, ending):
    for split, n in (("train", 30), ("validation", 9), ("test", 12)):
        rows = toy_rows(n, seed=len(split))
        path = tmp_path / f"{split}.{ending}"
        if ending == "jsonl":
            path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        elif ending == "jsonl.gz":
            write_jsonl_gz(path, rows)
        elif ending == "csv":
            with path.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=["text", "label"])
                writer.writeheader()
                writer.writerows(rows)
        else:
            datasets.Dataset.from_list(rows).to_parquet(str(path))
    dataset = load_splits(load_data_config("tweet_sentiment"), data_dir=str(tmp_path))
    assert [len(dataset[s]) for s in ("train", "validation", "test")] == [30, 9, 12]


def test_missing_validation_split_is_carved_stratified_and_seeded(tmp_path):
    write_jsonl_gz(tmp_path / "train.jsonl.gz", toy_rows(300, seed=0))
    write_jsonl_gz(tmp_path / "test.jsonl.gz", toy_rows(30, seed=1))
    config = load_data_config("tweet_sentiment")
    config.validation_size = 0.2
    first = load_splits(config, data_dir=str(tmp_path), seed=3)
    again = load_splits(config, data_dir=str(tmp_path), seed=3)
    assert len(first["validation"]) == 60 and len(first["train"]) == 240
    assert first["validation"]["text"] == again["validation"]["text"]
    counts = [first["validation"]["label"].count(c) for c in range(3)]
    assert counts == [20, 20, 20]


def test_missing_test_and_validation_splits_are_each_their_fraction_of_train(tmp_path):
    write_jsonl_gz(tmp_path / "train.jsonl.gz", toy_rows(300, seed=0))
    config = load_data_config("tweet_sentiment")
    config.validation_size, config.test_size = 0.1, 0.2
    dataset = load_splits(config, data_dir=str(tmp_path))
    assert [len(dataset[s]) for s in ("train", "validation", "test")] == [210, 30, 60]


def test_missing_column_names_the_columns_found(tmp_path):
    write_jsonl_gz(tmp_path / "train.jsonl.gz", [{"review": "good", "label": "positive"}])
    with pytest.raises(UserInputError, match=r"no column 'text'.*\['review', 'label'\]"):
        load_splits(load_data_config("tweet_sentiment"), data_dir=str(tmp_path))


def test_missing_data_dir_and_files_are_reported(tmp_path):
    with pytest.raises(UserInputError, match="does not exist"):
        load_splits(load_data_config("tweet_sentiment"), data_dir=str(tmp_path / "nowhere"))
    with pytest.raises(UserInputError, match="no training file"):
        load_splits(load_data_config("tweet_sentiment"), data_dir=str(tmp_path))
    with pytest.raises(UserInputError, match="missing data file"):
        load_splits(load_data_config("goodreads_spoilers"), data_dir=str(tmp_path))


def test_goodreads_format_joins_review_sentences(tmp_path):
    rows = [
        {"review_sentences": [[0, f"Review {i} starts."], [i % 2, "The butler did it."]], "has_spoiler": bool(i % 2)}
        for i in range(40)
    ]
    with gzip.open(tmp_path / "goodreads_reviews_spoiler.json.gz", "wt") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    dataset = load_splits(load_data_config("goodreads_spoilers"), data_dir=str(tmp_path))
    assert sum(len(dataset[s]) for s in ("train", "validation", "test")) == 40
    assert dataset["train"].features["label"].names == ["no_spoiler", "spoiler"]
    example = dataset["train"][0]
    assert example["text"].endswith("The butler did it.") and example["text"].startswith("Review")


def test_ai_human_float_labels_map_to_names(tmp_path):
    with (tmp_path / "AI_Human.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "generated"])
        writer.writerows([[f"essay number {i}", float(i % 2)] for i in range(50)])
    dataset = load_splits(load_data_config("ai_human"), data_dir=str(tmp_path))
    assert dataset["test"].features["label"].names == ["human", "ai"]
    row = dataset["train"][0]
    assert row["label"] == int(row["text"].split()[-1]) % 2


def test_hidden_test_labels_get_a_hint(tmp_path):
    write_jsonl_gz(tmp_path / "train.jsonl.gz", [{"sentence": "fine", "label": 1}, {"sentence": "bad", "label": 0}])
    write_jsonl_gz(tmp_path / "test.jsonl.gz", [{"sentence": "hidden", "label": -1}])
    with pytest.raises(UserInputError, match="hidden test labels"):
        load_splits(load_data_config("sst2"), data_dir=str(tmp_path))


def test_tokenize_splits_adds_lengths_and_truncates():
    dataset = load_splits(DataConfig(name="bundled", data_dir="data/tweet_sentiment", max_length=8))
    small = dataset.map(lambda batch: batch, batched=True).filter(lambda _, i: i < 50, with_indices=True)
    tokenizer = train_word_tokenizer(small["train"]["text"], min_frequency=1)
    tokenized = tokenize_splits(small, tokenizer, max_length=8)
    row = tokenized["train"][0]
    assert row["length"] == len(row["input_ids"]) <= 8
    assert set(tokenized["train"].column_names) >= {"input_ids", "attention_mask", "length", "label", "text"}


def test_head_tail_truncation_keeps_both_ends(bert_tokenizer_dir):
    words = [f"w{i}" for i in range(20)]
    dataset = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": [" ".join(words), "w3 w4"]})})
    tokenizer = train_word_tokenizer([" ".join(words)], min_frequency=1)
    cut = {
        truncation: [
            tokenizer.convert_ids_to_tokens(ids)
            for ids in tokenize_splits(dataset, tokenizer, 8, truncation)["train"]["input_ids"]
        ]
        for truncation in ("head", "head_tail")
    }
    assert cut["head"] == [words[:8], ["w3", "w4"]]
    assert cut["head_tail"] == [words[:2] + words[-6:], ["w3", "w4"]]  # a quarter of 8 from the start
    # A BERT-style tokeniser keeps [CLS] first and [SEP] last.
    bert = AutoTokenizer.from_pretrained(bert_tokenizer_dir)
    ids = tokenize_splits(dataset, bert, 8, "head_tail")["train"]["input_ids"][0]
    assert bert.convert_ids_to_tokens(ids)[:2] == ["[CLS]", "w"] and bert.convert_ids_to_tokens(ids)[-1] == "[SEP]"
    assert len(ids) == 8
    with pytest.raises(ValueError, match="truncation must be one of"):
        tokenize_splits(dataset, tokenizer, 8, "tail")


def test_saved_truncation_defaults_to_head_for_older_folders():
    config = PretrainedConfig()
    assert saved_truncation(config) == "head"
    config.text_truncation = "head_tail"
    assert saved_truncation(PretrainedConfig.from_dict(config.to_dict())) == "head_tail"


def test_bundled_data_lives_in_the_repository():
    for name in ("tweet_sentiment", "bbc_news"):
        assert (DATA_CONFIG_DIR / "data" / name / "train.jsonl.gz").is_file()
