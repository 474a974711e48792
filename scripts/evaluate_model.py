#!/usr/bin/env python
"""Evaluate a saved model folder on any dataset config and split, with the reports of a training run and timings.

    python scripts/evaluate_model.py --model outputs/attn_bilstm-tweet_sentiment --dataset tweet_sentiment
    python scripts/evaluate_model.py --model outputs/bert-imdb --dataset imdb --split validation --max_samples 2000

Writes into --output_dir (default MODEL/eval-<dataset>-<split>): metrics.json (accuracy, macro and weighted
precision/recall/F1, per-class figures, confusion matrix, loss, latency at batch 1 and batched, throughput,
parameter count), <split>_predictions.csv, classification_report.txt, confusion_matrix.png, per_class_f1.png, and
training_curves.png when MODEL holds the trainer_state.json of its training run. The metrics follow the data
config's problem_type: multi-label data gets subset accuracy and micro/macro figures at the model's threshold (no
confusion matrix), regression data MSE, MAE, Pearson and Spearman (no report or plot per class). --backend onnx (or
onnx_int8) evaluates an export folder of scripts/export.py with onnxruntime, with the same reports.
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
from modeling.arguments import add_data_arguments, data_config_of
from modeling.data import (
    SPLITS,
    label_names_of,
    load_splits,
    tokenize_splits,
)
from modeling.errors import UserInputError, cli_entry_point
from modeling.export import BACKEND_HELP, BACKENDS, load_for_backend
from modeling.files import atomic_write_text
from modeling.inference import check_model_labels, resolve_device, saved_cut
from modeling.problem_types import MULTI_LABEL, saved_problem_type, saved_threshold
from modeling.reporting import format_summary, write_run_reports
from modeling.timing import SINGLE_WARMUP, latencies_ms, synchronize
from modeling.training import count_parameters, problem_loss

logger = logging.getLogger("evaluate")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="A saved model folder (the --output_dir of scripts/train.py).")
    add_data_arguments(parser)
    parser.add_argument(
        "--multi_label_threshold",
        type=float,
        default=None,
        help="Multi-label models: a label counts as predicted at this probability (default: the model's).",
    )
    parser.add_argument("--split", default="test", choices=SPLITS, help="The split to evaluate on.")
    parser.add_argument("--max_samples", type=int, default=None, help="Evaluate on the first N rows of the split.")
    parser.add_argument("--batch_size", type=int, default=64, help="Texts per batch for the batched pass.")
    parser.add_argument(
        "--max_length",
        type=int,
        default=None,
        help="Truncate texts to this many tokens (default: the length the model trained with, saved as its "
        "tokenizer's model_max_length), cut as it trained.",
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
    if args.output_dir is not None and Path(args.output_dir).exists() and not Path(args.output_dir).is_dir():
        raise UserInputError(f"--output_dir {args.output_dir} is a file; give a folder")
    if args.multi_label_threshold is not None and not 0 < args.multi_label_threshold < 1:
        raise UserInputError(f"--multi_label_threshold must be between 0 and 1, got {args.multi_label_threshold}")
    return args


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
    device = resolve_device(args.device)
    data_config = data_config_of(args)
    problem_type = data_config.problem_type
    model, tokenizer = load_for_backend(args.model, args.backend, device)
    device = getattr(model, "device", device)  # an ONNX backend runs on the CPU
    threshold = args.multi_label_threshold or saved_threshold(model.config)
    if args.multi_label_threshold is not None and saved_problem_type(model.config) != MULTI_LABEL:
        raise UserInputError(f"--multi_label_threshold is for multi-label models; {args.model} is not one")

    raw = load_splits(data_config, args.data_dir, seed=args.seed)
    label_names = label_names_of(raw["train"], data_config)
    check_model_labels(model.config, label_names, problem_type, data_config.name)
    split = raw[args.split]
    if args.max_samples is not None:
        split = split.select(range(min(args.max_samples, len(split))))
    max_length, truncation = saved_cut(model, tokenizer, args.max_length)
    rows = tokenize_splits(datasets.DatasetDict({args.split: split}), tokenizer, max_length, truncation)[args.split]
    collator = DataCollatorWithPadding(tokenizer)
    logger.info("%s %s: %d texts, max_length %d, on %s", data_config.name, args.split, len(rows), max_length, device)

    logits, batched_seconds = predict_logits(model, rows, collator, args.batch_size, device)
    latencies = batch_one_latencies(model, rows, collator, args.latency_samples, device)

    output_dir = Path(args.output_dir or Path(args.model) / f"eval-{data_config.name}-{args.split}")
    labels = np.asarray(rows["label"])  # class ids, multi-hot rows or values, as the model trained on
    metrics = write_run_reports(
        output_dir,
        label_names,
        split["text"],
        labels,
        logits,
        read_log_history(args.model),
        split=args.split,
        problem_type=problem_type,
        threshold=threshold,
    )
    loss = problem_loss(logits, labels, problem_type)
    trainable, total = count_parameters(model) if args.backend == "torch" else (0, model.num_parameters())
    per_class = metrics.pop("per_class", None)  # classification only
    if per_class is not None:
        per_class = {
            name: {figure: per_class[figure][i] for figure in ("precision", "recall", "f1", "support")}
            for i, name in enumerate(label_names)
        }
    results = {
        "model": str(args.model),
        "dataset": data_config.name,
        "split": args.split,
        "problem_type": problem_type,
        "multi_label_threshold": threshold if problem_type == MULTI_LABEL else None,
        "num_samples": len(rows),
        "max_length": max_length,
        "truncation": truncation,
        **{key: value for key, value in metrics.items() if isinstance(value, float)},
        "loss": loss,
        "per_class": per_class,
        "confusion_matrix": metrics.get("confusion_matrix"),  # single-label only
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
    atomic_write_text(output_dir / "metrics.json", json.dumps(results, indent=2) + "\n")

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
