#!/usr/bin/env python
"""Look at a dataset before training on it: texts per split and class, text lengths in tokens, unknown tokens.

    python scripts/inspect_data.py --dataset tweet_sentiment
    python scripts/inspect_data.py --dataset imdb --tokenizer bert-base-uncased --output_dir outputs/inspect-imdb

Lengths are counted with a word-level tokenizer trained on the training split (what the recurrent models use),
or with --tokenizer (a pretrained one or a saved model folder, special tokens included, as --max_length counts
them). The share of tokens that are the tokenizer's unknown token ([UNK]) shows how much of each split's wording
the vocabulary leaves out (for the word-level tokenizer: --vocab_size, --min_frequency). Prints the tables and the
max_length that covers 95% of the texts; writes class_counts.png, length_histogram.png (50/90/95/99th percentiles
marked) and data_stats.json into --output_dir.
"""

import argparse
import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from modeling.arguments import add_data_arguments, data_config_of
from modeling.data import label_names_of, load_splits
from modeling.data.tokenization import DEFAULT_VOCAB_SIZE, train_word_tokenizer
from modeling.errors import UserInputError, cli_entry_point
from modeling.problem_types import MULTI_LABEL, REGRESSION
from modeling.reporting import plot_class_counts, plot_length_histogram

logger = logging.getLogger("inspect_data")
PERCENTILES = (50, 90, 95, 99)
COVERAGE = 95  # the percentile whose length is suggested as max_length


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument(
        "--tokenizer",
        default=None,
        help="Count tokens with this pretrained tokenizer (hub id or folder) instead of a word-level one.",
    )
    parser.add_argument(
        "--output_dir", default=None, help="Where the plots and JSON go (default: outputs/inspect-<dataset>)."
    )
    parser.add_argument(
        "--vocab_size",
        type=int,
        default=DEFAULT_VOCAB_SIZE,
        help="Word-level tokenizer: the most frequent words kept.",
    )
    parser.add_argument("--min_frequency", type=int, default=2, help="Word-level tokenizer: rarer words are [UNK].")
    parser.add_argument(
        "--keep_markup",
        action="store_true",
        help="Word-level tokenizer: read HTML tags and links as words (train.py --clean_markup false).",
    )
    parser.add_argument(
        "--seed", type=int, default=42, help="Seed of the splits carved from train when the source lacks them."
    )
    return parser.parse_args()


def build_tokenizer(args: argparse.Namespace, train_texts: list[str], max_length: int) -> tuple:
    """The tokenizer that counts lengths, and a description of it for the tables."""
    if args.tokenizer is not None:
        try:
            return AutoTokenizer.from_pretrained(args.tokenizer), f"tokenizer {args.tokenizer}"
        except (OSError, ValueError) as error:
            raise UserInputError(
                f"cannot load tokenizer {args.tokenizer!r}; give a local folder or a cached hub id ({error})"
            ) from error
    tokenizer = train_word_tokenizer(
        train_texts,
        vocab_size=args.vocab_size,
        min_frequency=args.min_frequency,
        clean_markup=not args.keep_markup,
        model_max_length=max_length,
    )
    return tokenizer, f"word-level tokenizer trained on train ({len(tokenizer)} words)"


def token_counts(dataset, tokenizer: PreTrainedTokenizerBase) -> tuple[np.ndarray, np.ndarray]:
    """
    Tokens per text, untruncated, and how many of them are the tokenizer's unknown token. A text that tokenises to
    nothing counts as one unknown token, as it gets one [UNK] in training.
    """
    unknown_id = tokenizer.unk_token_id

    def measure(batch: dict) -> dict:
        ids = tokenizer(batch["text"], truncation=False, verbose=False)["input_ids"]
        return {
            "length": [max(len(row), 1) for row in ids],
            "unknown": [row.count(unknown_id) if row else 1 for row in ids],
        }

    counts = dataset.map(measure, batched=True, remove_columns=dataset.column_names, desc="Counting tokens")
    return np.asarray(counts["length"], dtype=np.int64), np.asarray(counts["unknown"], dtype=np.int64)


def length_stats(lengths: np.ndarray, unknown: np.ndarray) -> dict:
    """
    Count, mean, max and percentiles of the lengths (a percentile is the smallest length that many percent of texts
    fit in), and the percentage of all tokens that are unknown.
    """
    stats = {"texts": int(len(lengths)), "mean": float(lengths.mean()), "max": int(lengths.max())}
    for q in PERCENTILES:
        stats[f"p{q}"] = int(np.percentile(lengths, q, method="inverted_cdf"))
    stats["unknown_percent"] = float(100 * unknown.sum() / lengths.sum())
    return stats


def format_tables(stats: dict) -> str:
    """The class-count (multi-label: texts per label; none for regression) and length tables as text."""
    lines = []
    if stats["label_names"]:
        splits = list(stats["class_counts"])
        width = max(12, *(len(name) + 2 for name in stats["label_names"]))
        lines = [f"Class counts ({stats['dataset']})", f"{'class':<{width}}" + "".join(f"{s:>12}" for s in splits)]
        lines[-1] += f"{'total':>12}"
        for name in stats["label_names"]:
            counts = [stats["class_counts"][split].get(name, 0) for split in splits]
            lines.append(f"{name:<{width}}" + "".join(f"{c:>12}" for c in counts) + f"{sum(counts):>12}")
        totals = [sum(stats["class_counts"][split].values()) for split in splits]
        lines.append(f"{'total':<{width}}" + "".join(f"{t:>12}" for t in totals) + f"{sum(totals):>12}")
        lines.append("")

    columns = ["texts", "mean", *(f"p{q}" for q in PERCENTILES), "max"]
    lines += [f"Text length in tokens ({stats['tokenizer']}); [UNK] %: unknown tokens among all tokens"]
    lines.append(f"{'split':<12}" + "".join(f"{c:>9}" for c in columns) + f"{'[UNK] %':>9}")
    for split, row in stats["lengths"].items():
        cells = [f"{row[c]:>9.1f}" if c == "mean" else f"{row[c]:>9}" for c in columns]
        lines.append(f"{split:<12}" + "".join(cells) + f"{row['unknown_percent']:>9.2f}")
    lines += [
        "",
        f"max_length covering {COVERAGE}% of texts: {stats['max_length_95']}",
        f"data config max_length {stats['config_max_length']} covers {100 * stats['config_max_length_coverage']:.2f}% "
        "of texts",
    ]
    return "\n".join(lines)


@cli_entry_point
def main() -> dict:
    args = parse_args()
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.WARNING)
    config = data_config_of(args)
    data = load_splits(config, args.data_dir, seed=args.seed)
    # Regression data has no classes to count; a multi-label text counts once for each of its labels.
    label_names = label_names_of(data["train"], config) if config.problem_type != REGRESSION else []
    tokenizer, description = build_tokenizer(args, data["train"]["text"], config.max_length)

    class_counts, lengths, unknown = {}, {}, {}
    for split, dataset in data.items():
        labels = dataset["label"]
        counts = Counter(i for ids in labels for i in ids) if config.problem_type == MULTI_LABEL else Counter(labels)
        class_counts[split] = {name: int(counts.get(i, 0)) for i, name in enumerate(label_names)}
        lengths[split], unknown[split] = token_counts(dataset, tokenizer)
    everything = np.concatenate(list(lengths.values()))
    stats = {
        "dataset": config.name,
        "tokenizer": description,
        "label_names": label_names,
        "class_counts": class_counts,
        "lengths": {
            **{split: length_stats(lengths[split], unknown[split]) for split in lengths},
            "all": length_stats(everything, np.concatenate(list(unknown.values()))),
        },
        "max_length_95": int(np.percentile(everything, COVERAGE, method="inverted_cdf")),
        "config_max_length": config.max_length,
        "config_max_length_coverage": float((everything <= config.max_length).mean()),
    }

    output_dir = Path(args.output_dir or f"outputs/inspect-{config.name}")
    output_dir.mkdir(parents=True, exist_ok=True)
    if label_names:
        title = f"{config.name}: texts per class"
        plot_class_counts(class_counts, label_names, output_dir / "class_counts.png", title)
    plot_length_histogram(
        everything,
        {q: stats["lengths"]["all"][f"p{q}"] for q in PERCENTILES},
        output_dir / "length_histogram.png",
        title=f"{config.name}: text length, {description}",
        max_length=config.max_length,
    )
    (output_dir / "data_stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    print(format_tables(stats))
    print(f"plots and data_stats.json in {output_dir}")
    return stats


if __name__ == "__main__":
    main()
