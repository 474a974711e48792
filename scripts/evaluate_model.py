#!/usr/bin/env python
"""Evaluate a saved model folder on any dataset config and split, with the reports of a training run and timings.

    python scripts/evaluate.py --model outputs/attn_bilstm-tweet_sentiment --dataset tweet_sentiment
    python scripts/evaluate.py --model outputs/bert-imdb --dataset imdb --split validation --max_samples 2000

Writes into --output_dir (default MODEL/eval-<dataset>-<split>): metrics.json (accuracy, macro and weighted
precision/recall/F1, per-class figures, confusion matrix, loss, latency at batch 1 and batched, throughput,
parameter count), <split>_predictions.csv, classification_report.txt, confusion_matrix.png, per_class_f1.png, and
training_curves.png when MODEL holds the trainer_state.json of its training run. --backend onnx (or onnx_int8)
evaluates an export folder of scripts/export.py with onnxruntime, with the same reports.
"""

import argparse
import json
import logging
import statistics
import time
from pathlib import Path

import datasets
import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import DataCollatorWithPadding

import modeling  # noqa: F401  (registers the recurrent architectures with the Auto classes)
from modeling.data import (
    SPLITS,
    available_datasets,
    load_data_config,
    load_splits,
    saved_truncation,
    tokenize_splits,
)
from modeling.errors import UserInputError, cli_entry_point
from modeling.export import BACKEND_HELP, BACKENDS, load_for_backend
from modeling.reporting import format_summary, write_run_reports
from modeling.timing import SINGLE_WARMUP, latencies_ms, synchronize
from modeling.training import count_parameters

logger = logging.getLogger("evaluate")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="A saved model folder (the --output_dir of scripts/train.py).")
    parser.add_argument(
        "--dataset",
        required=True,
        help=f"A data config name ({', '.join(available_datasets())}) or the path of a YAML config.",
    )
    parser.add_argument("--data_dir", default=None, help="Read the dataset's files from this folder instead.")
    parser.add_argument("--split", default="test", choices=SPLITS, help="The split to evaluate on.")
    parser.add_argument("--max_samples", type=int, default=None, help="Evaluate on the first N rows of the split.")
    parser.add_argument("--batch_size", type=int, default=64, help="Texts per batch for the batched pass.")
    parser.add_argument(
        "--max_length",
        type=int,
        default=None,
        help="Truncate texts to this many tokens (default: the data config's, capped at what the model supports).",
    )
    parser.add_argument(
        "--output_dir", default=None, help="Where the reports go (default: MODEL/eval-<dataset>-<split>)."
    )
    parser.add_argument(
        "--latency_samples",
        type=int,
        default=300,
        help="Single texts timed one at a time for the batch-1 latency (median reported); 0 skips it.",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=42,
        help="Seed of the split carved from train when the source lacks one; use the training run's --seed.",
    )
    parser.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda:0 (default: cuda if present).")
    parser.add_argument("--backend", choices=list(BACKENDS), default="torch", help=BACKEND_HELP + ".")
    args = parser.parse_args()
    for flag in ("max_samples", "batch_size", "max_length"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            raise UserInputError(f"--{flag} must be positive, got {value}")
    if args.latency_samples < 0:
        raise UserInputError(f"--latency_samples must be 0 or more, got {args.latency_samples}")
    return args


def resolve_max_length(requested: int | None, default: int, model, tokenizer) -> int:
    """`requested`, or `default` capped at the tokenizer's length; never more positions than the model has."""
    positions = getattr(model.config, "max_position_embeddings", None)
    if requested is not None:
        if positions is not None and requested > positions:
            raise UserInputError(f"--max_length {requested} exceeds the model's {positions} positions")
        return requested
    limits = [default, positions, tokenizer.model_max_length if tokenizer.model_max_length < 1_000_000 else None]
    return min(limit for limit in limits if limit is not None)


def check_labels(model, label_names: list[str], dataset_name: str) -> None:
    """The dataset's classes must be the model's, in the same order."""
    id2label = model.config.id2label
    model_names = [id2label[i] for i in range(len(id2label))]
    if model_names != list(label_names):
        raise UserInputError(
            f"the model's labels {model_names} differ from dataset {dataset_name!r}'s {list(label_names)}; "
            "evaluate on a dataset with the same classes in the same order"
        )


@torch.no_grad()
def predict_logits(model, rows, collator, batch_size: int, device: torch.device) -> tuple[np.ndarray, float]:
    """
    Logits `(n, num_labels)` for every tokenised row, in row order, batched by similar length, and the seconds the
    batched pass took (collation, transfer and forward; after one warm-up batch).
    """
    lengths = np.asarray(rows["length"])
    order = np.argsort(-lengths, kind="stable")  # longest first: a batch too large for memory fails at once
    columns = [name for name in rows.column_names if name in ("input_ids", "attention_mask", "token_type_ids")]
    features = rows.select_columns(columns)
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]

    def forward(indices: np.ndarray) -> torch.Tensor:
        batch = collator([features[int(i)] for i in indices])
        batch = {key: value.to(device) for key, value in batch.items()}
        return model(**batch).logits.float()  # (batch, num_labels)

    forward(batches[0])  # warm-up
    synchronize()
    logits = np.zeros((len(order), model.config.num_labels), dtype=np.float32)
    start = time.perf_counter()
    for indices in tqdm(batches, desc="Evaluating", unit="batch", disable=None):
        logits[indices] = forward(indices).cpu().numpy()
    synchronize()
    return logits, time.perf_counter() - start


def batch_one_latencies(model, rows, collator, samples: int, device: torch.device) -> list[float]:
    """Milliseconds per forward pass of single texts (the first `samples` rows), after warm-up passes."""
    columns = [name for name in rows.column_names if name in ("input_ids", "attention_mask", "token_type_ids")]
    features = rows.select_columns(columns)
    singles = [collator([features[i]]) for i in range(min(samples, len(features)))]  # collated before timing

    def forward(batch: dict) -> object:
        return model(**{key: value.to(device) for key, value in batch.items()})

    timed = tqdm(singles, desc="Timing batch 1", unit="text", disable=None)
    return latencies_ms(forward, timed, singles[:SINGLE_WARMUP])


def read_log_history(folder: str) -> list[dict]:
    """The training run's log history from `trainer_state.json`, or [] when the folder has none."""
    state = Path(folder) / "trainer_state.json"
    if not state.is_file():
        return []
    return json.loads(state.read_text()).get("log_history", [])


@cli_entry_point
def main() -> dict:
    args = parse_args()
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    data_config = load_data_config(args.dataset)
    model, tokenizer = load_for_backend(args.model, args.backend, device)
    device = getattr(model, "device", device)  # an ONNX backend runs on the CPU

    raw = load_splits(data_config, args.data_dir, seed=args.seed)
    label_names = raw["train"].features["label"].names
    check_labels(model, label_names, data_config.name)
    split = raw[args.split]
    if args.max_samples is not None:
        split = split.select(range(min(args.max_samples, len(split))))
    max_length = resolve_max_length(args.max_length, data_config.max_length, model, tokenizer)
    truncation = saved_truncation(model.config)
    rows = tokenize_splits(datasets.DatasetDict({args.split: split}), tokenizer, max_length, truncation)[args.split]
    collator = DataCollatorWithPadding(tokenizer)
    logger.info("%s %s: %d texts, max_length %d, on %s", data_config.name, args.split, len(rows), max_length, device)

    logits, batched_seconds = predict_logits(model, rows, collator, args.batch_size, device)
    latencies = batch_one_latencies(model, rows, collator, args.latency_samples, device)

    output_dir = Path(args.output_dir or Path(args.model) / f"eval-{data_config.name}-{args.split}")
    labels = np.asarray(rows["label"])
    metrics = write_run_reports(
        output_dir, label_names, split["text"], labels, logits, read_log_history(args.model), split=args.split
    )
    loss = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    trainable, total = count_parameters(model) if args.backend == "torch" else (0, model.num_parameters())
    per_class = metrics.pop("per_class")
    results = {
        "model": str(args.model),
        "dataset": data_config.name,
        "split": args.split,
        "num_samples": len(rows),
        "max_length": max_length,
        **{key: value for key, value in metrics.items() if isinstance(value, float)},
        "loss": loss,
        "per_class": {
            name: {figure: per_class[figure][i] for figure in ("precision", "recall", "f1", "support")}
            for i, name in enumerate(label_names)
        },
        "confusion_matrix": metrics["confusion_matrix"],
        "device": str(device),
        "backend": args.backend,
        # Timings cover collation, transfer and the forward pass of already tokenised texts.
        "latency_ms_batch_1_median": statistics.median(latencies) if latencies else None,
        "latency_ms_batch_1_p90": float(np.percentile(latencies, 90)) if latencies else None,
        "latency_batch_1_texts": len(latencies),
        "batch_size": args.batch_size,
        "latency_ms_per_text_batched": 1000 * batched_seconds / len(rows),
        "throughput_texts_per_s": len(rows) / batched_seconds,
        "num_parameters": total,
        "trainable_parameters": trainable,
    }
    (output_dir / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")

    print(format_summary(results, row_name=args.split))
    if latencies:
        median = results["latency_ms_batch_1_median"]
        print(f"latency at batch 1: {median:.2f} ms per text (median of {len(latencies)})")
    print(
        f"batched ({args.batch_size}): {results['latency_ms_per_text_batched']:.3f} ms per text, "
        f"{results['throughput_texts_per_s']:.0f} texts/s; {total:,} parameters"
    )
    print(f"reports in {output_dir}")
    return results


if __name__ == "__main__":
    main()
