"""scripts/inspect_data.py on the toy data: counts that match the files, and a max_length that covers 95%."""

import gzip
import json
from collections import Counter

import numpy as np
import pytest
from PIL import Image

LABELS = ["negative", "neutral", "positive"]


def read_rows(folder, split: str) -> list[dict]:
    with gzip.open(folder / f"{split}.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def covering_length(lengths: list[int], share: float) -> int:
    """The smallest L such that at least `share` of the lengths are <= L, found by trying every L."""
    lengths = np.asarray(lengths)
    return next(n for n in range(lengths.max() + 1) if (lengths <= n).mean() >= share)


@pytest.fixture(scope="module")
def word_level_stats(toy_data_dir, tmp_path_factory):
    from conftest import load_script

    output_dir = tmp_path_factory.mktemp("inspect_words")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            "sys.argv",
            ["inspect_data.py", "--dataset", "tweet_sentiment", "--data_dir", str(toy_data_dir),
             "--output_dir", str(output_dir)],
        )  # fmt: skip
        stats = load_script("inspect_data").main()
    return stats, output_dir


def test_counts_match_the_data(word_level_stats, toy_data_dir):
    stats, output_dir = word_level_stats
    assert stats["label_names"] == LABELS
    for split in ("train", "validation", "test"):
        expected = Counter(row["label"] for row in read_rows(toy_data_dir, split))
        assert stats["class_counts"][split] == {name: expected[name] for name in LABELS}
        assert stats["lengths"][split]["texts"] == sum(expected.values())
    assert stats["lengths"]["all"]["texts"] == 240 + 60 + 60
    assert json.loads((output_dir / "data_stats.json").read_text()) == stats


def test_lengths_and_the_95_percent_max_length(word_level_stats, toy_data_dir, capsys):
    stats, output_dir = word_level_stats
    # The toy texts are lower-case words with single spaces: a word-level tokenizer gives one token per word.
    words = {split: [len(row["text"].split()) for row in read_rows(toy_data_dir, split)] for split in stats["lengths"]
             if split != "all"}  # fmt: skip
    every = sum(words.values(), [])
    assert stats["max_length_95"] == covering_length(every, 0.95)
    for split, lengths in words.items():
        row = stats["lengths"][split]
        assert row["max"] == max(lengths) and row["mean"] == pytest.approx(np.mean(lengths))
        assert row["p50"] == covering_length(lengths, 0.50) and row["p99"] == covering_length(lengths, 0.99)
    all_row = stats["lengths"]["all"]
    assert all_row["p50"] <= all_row["p90"] <= all_row["p95"] <= all_row["p99"] <= all_row["max"]
    assert stats["config_max_length"] == 64 and stats["config_max_length_coverage"] == 1.0
    for name in ("class_counts.png", "length_histogram.png"):
        with Image.open(output_dir / name) as image:
            assert image.format == "PNG" and image.width >= 400 and image.height >= 200


def test_unknown_token_share(tmp_path, run_script):
    from conftest import write_jsonl_gz

    # The word-level tokenizer keeps the training words seen at least twice (--min_frequency 2); the others are [UNK].
    splits = {
        "train": ["good film", "good plot", "bad film", "bad acting"],  # "plot" and "acting" are seen once
        "validation": ["good plot twist", "bad film"],  # 2 of 5 words unknown
        "test": ["dull", "good film indeed"],  # 2 of 4
    }
    for split, texts in splits.items():
        write_jsonl_gz(tmp_path / f"{split}.jsonl.gz", [{"text": text, "label": "neutral"} for text in texts])
    stats = run_script(
        "inspect_data", "--dataset", "tweet_sentiment", "--data_dir", tmp_path, "--output_dir", tmp_path / "out"
    )
    shares = {split: row["unknown_percent"] for split, row in stats["lengths"].items()}
    assert shares == pytest.approx({"train": 25.0, "validation": 40.0, "test": 50.0, "all": 100 * 6 / 17})


def test_tables_are_printed(toy_data_dir, tmp_path, run_script, capsys):
    run_script("inspect_data", "--dataset", "tweet_sentiment", "--data_dir", toy_data_dir, "--output_dir", tmp_path)
    out = capsys.readouterr().out
    stats = json.loads((tmp_path / "data_stats.json").read_text())
    assert f"max_length covering 95% of texts: {stats['max_length_95']}" in out
    counts_line = next(line for line in out.splitlines() if line.startswith("negative"))
    assert counts_line.split() == ["negative", "80", "20", "20", "120"]


def test_pretrained_tokenizer_counts_special_tokens(
    word_level_stats, toy_data_dir, tmp_path, run_script, bert_tokenizer_dir
):
    stats = run_script(
        "inspect_data", "--dataset", "tweet_sentiment", "--data_dir", toy_data_dir, "--tokenizer", bert_tokenizer_dir,
        "--output_dir", tmp_path,
    )  # fmt: skip
    words = word_level_stats[0]
    assert "tiny-bert-tokenizer" in stats["tokenizer"]
    # Every word is at least one word piece, and [CLS] and [SEP] come on top.
    assert stats["max_length_95"] >= words["max_length_95"] + 2
    assert stats["lengths"]["all"]["p50"] >= words["lengths"]["all"]["p50"] + 2


def test_unknown_tokenizer_is_a_one_line_error(toy_data_dir, tmp_path, run_script, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_script("inspect_data", "--dataset", "tweet_sentiment", "--data_dir", toy_data_dir,
                   "--tokenizer", tmp_path / "no-such-tokenizer", "--output_dir", tmp_path)  # fmt: skip
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert "cannot load tokenizer" in error and len(error.splitlines()) == 1


def test_other_columns_are_read_as_the_flags_say(tmp_path, run_script):
    from conftest import write_jsonl_gz

    for split, rows in {"train": 4, "validation": 2, "test": 2}.items():
        write_jsonl_gz(
            tmp_path / f"{split}.jsonl.gz",
            [{"body": "good film", "stars": "positive", "text": "unused words here"}] * rows,
        )
    stats = run_script(
        "inspect_data", "--dataset", "tweet_sentiment", "--data_dir", tmp_path, "--output_dir", tmp_path / "out",
        "--text_column", "body", "--label_column", "stars",
    )  # fmt: skip
    assert stats["class_counts"]["train"] == {"negative": 0, "neutral": 0, "positive": 4}
    assert stats["lengths"]["train"]["max"] == 2  # "good film", not the text column's three words
