#!/usr/bin/env python
"""Classify texts with a saved model folder (or an ONNX export); optionally show which tokens made each prediction.

    python scripts/predict.py --model outputs/attn_bilstm-tweet_sentiment "what a great day" "worst service ever"
    python scripts/predict.py --model outputs/bert-imdb --file reviews.txt --json > predictions.jsonl
    echo "so so" | python scripts/predict.py --model outputs/attn_bilstm-tweet_sentiment --explain

Texts come from the arguments, from --file (one per line) or, when neither is given, from standard input (one per
line). Each text's predicted label and class probabilities are printed, or one JSON object per line with --json; a
multi-label model gives the labels whose probability reaches its threshold, with their probabilities, and a
regression model the predicted value. An empty (or whitespace-only) text still gets a row, so rows stay aligned
with the input, marked `empty` (and a warning on standard error says how many there were). Bytes that are not UTF-8
read as U+FFFD, with a warning.
--explain writes one heatmap per text into --output_dir and adds the token scores to the output. With --method
attention: the attention over time for attn_bilstm, and the last layer's attention from [CLS] averaged over heads
for the transformers. With --method integrated_gradients (any model type): each token's attribution to the
predicted label's logit (a regression model's value), red for evidence for it, blue against. Only the tokens the
model read are drawn. Any text is accepted: empty or whitespace-only texts, any script, control characters; long
texts are cut as in training (to the length the model trained with, keeping start and end where it did).
--backend onnx runs an export folder of scripts/export.py with onnxruntime.
"""

import argparse
import json
import sys
from pathlib import Path

import datasets
import numpy as np
import torch
from transformers import DataCollatorWithPadding

import modeling  # noqa: F401  (registers the recurrent architectures with the Auto classes)
from modeling.data import tokenize_splits
from modeling.errors import UserInputError, cli_entry_point
from modeling.explain import add_explain_arguments, default_method, integrated_gradients
from modeling.export import BACKEND_HELP, BACKENDS, load_for_backend
from modeling.inference import resolve_device, saved_cut
from modeling.problem_types import (
    MULTI_LABEL,
    REGRESSION,
    SINGLE_LABEL,
    saved_problem_type,
    saved_threshold,
    scores_from_logits,
)
from modeling.reporting import plot_attention

PREVIEW_CHARS = 60


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="Texts to classify.")
    parser.add_argument("--model", required=True, help="A saved model folder (the --output_dir of scripts/train.py).")
    parser.add_argument("--file", default=None, help="Also classify every line of this UTF-8 text file.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object per text instead of a table.")
    parser.add_argument("--explain", action="store_true", help="Write a heatmap PNG per text (see --method).")
    add_explain_arguments(parser)
    parser.add_argument("--backend", choices=list(BACKENDS), default="torch", help=BACKEND_HELP + ".")
    parser.add_argument(
        "--output_dir", default=None, help="Where --explain writes its heatmaps (default: MODEL/explanations)."
    )
    parser.add_argument("--batch_size", type=int, default=32, help="Texts per forward pass.")
    parser.add_argument(
        "--max_length",
        type=int,
        default=None,
        help="Truncate texts to this many tokens (default: the length the model trained with, saved as its "
        "tokenizer's model_max_length), cut as it trained (start and end, or start alone).",
    )
    parser.add_argument(
        "--multi_label_threshold",
        type=float,
        default=None,
        help="Multi-label models: a label is predicted when its probability reaches this (default: the threshold "
        "the model trained with).",
    )
    parser.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda:0 (default: cuda if present).")
    args = parser.parse_args()
    for flag in ("batch_size", "max_length", "ig_steps"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            raise UserInputError(f"--{flag} must be positive, got {value}")
    if args.multi_label_threshold is not None and not 0 < args.multi_label_threshold < 1:
        raise UserInputError(f"--multi_label_threshold must be between 0 and 1, got {args.multi_label_threshold}")
    if args.explain and args.backend != "torch":
        raise UserInputError("--explain needs the PyTorch model: pass the training folder, without --backend")
    return args


def describe(scores: np.ndarray, label_names: list[str], problem_type: str, threshold: float) -> dict:
    """
    One text's prediction from its scores (`scores_from_logits`): the label, its confidence and every class's
    probability; for multi-label the labels at or above `threshold` (most probable first) with their
    probabilities, and every label's; for regression the value.
    """
    if problem_type == REGRESSION:
        return {"value": float(scores)}
    probabilities = {name: float(p) for name, p in zip(label_names, scores)}
    if problem_type == MULTI_LABEL:
        chosen = sorted((i for i, p in enumerate(scores) if p >= threshold), key=lambda i: -scores[i])
        return {"labels": {label_names[i]: float(scores[i]) for i in chosen}, "probabilities": probabilities}
    predicted = int(scores.argmax())
    return {"label": label_names[predicted], "confidence": float(scores[predicted]), "probabilities": probabilities}


def headline(result: dict) -> str:
    """The prediction in a few words: `positive (0.93)`, `sports 0.91, politics 0.62`, or `3.42`."""
    if "value" in result:
        return f"{result['value']:.4g}"
    if "labels" in result:
        return ", ".join(f"{name} {p:.2f}" for name, p in result["labels"].items()) or "(no label)"
    return f"{result['label']} ({result['confidence']:.2f})"


def split_lines(content: str) -> list[str]:
    """One text per line (`\\n` or `\\r\\n`); other control characters stay inside their text."""
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line starts no text
    return [line.removesuffix("\r") for line in lines]


def decode_lines(content: bytes, source: str) -> list[str]:
    """
    The lines of `content` as UTF-8; bytes that are not UTF-8 read as U+FFFD, and a warning on standard error names
    how many lines held them and the first one.
    """
    lines = split_lines(content.decode("utf-8", errors="replace"))
    bad = []
    for number, raw in enumerate(split_lines(content.decode("latin-1")), 1):
        try:
            raw.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            bad.append(number)
    if bad:
        print(
            f"warning: {source}: {len(bad)} line(s) hold bytes that are not UTF-8 (first: line {bad[0]}); they were "
            "read as U+FFFD. Re-encode the file as UTF-8 for exact texts",
            file=sys.stderr,
        )
    return lines


def read_texts(args: argparse.Namespace) -> list[str]:
    """The texts from the arguments and --file, or else from standard input."""
    texts = list(args.texts)
    if args.file is not None:
        path = Path(args.file)
        if not path.is_file():
            raise UserInputError(f"--file {args.file} does not exist")
        texts += decode_lines(path.read_bytes(), args.file)
    elif not texts:
        if sys.stdin.isatty():
            print("reading texts from standard input, one per line; end with Ctrl-D", file=sys.stderr)
        stream = getattr(sys.stdin, "buffer", None)
        texts = decode_lines(stream.read(), "standard input") if stream is not None else split_lines(sys.stdin.read())
    if not texts:
        raise UserInputError("no texts to classify: give them as arguments, with --file F, or on standard input")
    return texts


def token_weights(attentions: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, str]:
    """
    One attention weight per token, `(batch, seq_len)`, and a description of where it comes from.

    A recurrent model's `attentions` is a one-element tuple of `(batch, seq_len)` weights over time; a transformer's
    holds one `(batch, heads, seq_len, seq_len)` tensor per layer, of which the last layer's attention from the first
    token ([CLS], what the classifier reads) is averaged over heads.
    """
    last = attentions[-1]
    if last.dim() == 2:
        return last, "attention over time"
    if last.dim() == 4:
        return last[:, :, 0, :].mean(dim=1), "last layer, [CLS] attention, mean over heads"
    raise ValueError(f"unexpected attention shape {tuple(last.shape)}")


def shown_tokens(ids: list[int], weights: np.ndarray, tokenizer) -> tuple[list[str], np.ndarray]:
    """The tokens and weights to draw: [CLS], [SEP] and padding left out, unless the text holds nothing else."""
    hidden = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id} - {None}
    keep = [i for i, token_id in enumerate(ids) if token_id not in hidden] or list(range(len(ids)))
    tokens = tokenizer.convert_ids_to_tokens([ids[i] for i in keep])
    return tokens, weights[keep]


def preview(text: str, width: int = PREVIEW_CHARS) -> str:
    """The start of `text` on one line, control characters escaped."""
    if not text.strip():
        return repr(text) if len(text) <= width else repr(text[:width]) + "…"
    shown = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text[:width])
    return shown + ("…" if len(text) > width else "")


@cli_entry_point
def main() -> list[dict]:
    args = parse_args()
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")  # a terminal that cannot show a script still gets output
    datasets.disable_progress_bars()
    device = resolve_device(args.device)
    texts = read_texts(args)
    empty = [not text.strip() for text in texts]
    if any(empty):
        print(
            f"warning: {sum(empty)} empty text(s) (first: text {empty.index(True) + 1}); each keeps its row, marked "
            "empty, with what the model predicts for no words",
            file=sys.stderr,
        )
    model, tokenizer = load_for_backend(
        # The fused (sdpa, flash) attention kernels return no weights; the eager one does.
        args.model,
        args.backend,
        device,
        **({"attn_implementation": "eager"} if args.explain else {}),
    )
    method = (args.method or default_method(model)) if args.explain else None
    label_names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    problem_type = saved_problem_type(model.config)
    threshold = args.multi_label_threshold or saved_threshold(model.config)
    if args.multi_label_threshold is not None and problem_type != MULTI_LABEL:
        raise UserInputError(f"--multi_label_threshold is for multi-label models; {args.model} is not one")
    max_length, truncation = saved_cut(model, tokenizer, args.max_length)

    # tokenize_splits gives a text that tokenises to nothing one [UNK], and cuts long ones, as in training.
    encoded = tokenize_splits(
        datasets.DatasetDict({"predict": datasets.Dataset.from_dict({"text": texts})}),
        tokenizer,
        max_length,
        truncation,
    )["predict"]
    columns = [name for name in encoded.column_names if name in ("input_ids", "attention_mask", "token_type_ids")]
    encoded = encoded.select_columns(columns)
    collator = DataCollatorWithPadding(tokenizer)
    output_dir = Path(args.output_dir or Path(args.model) / "explanations")
    if args.explain:
        output_dir.mkdir(parents=True, exist_ok=True)
    digits = max(3, len(str(len(texts))))
    label_width = max(map(len, label_names)) if problem_type != MULTI_LABEL else 0

    results, explain = [], args.explain
    for start in range(0, len(texts), args.batch_size):
        rows = [encoded[i] for i in range(start, min(start + args.batch_size, len(texts)))]
        batch = {key: value.to(device) for key, value in collator(rows).items()}
        with torch.no_grad():
            outputs = model(**batch, output_attentions=explain and method == "attention")
        # (batch, num_labels) probabilities, or (batch,) values for regression
        probabilities = scores_from_logits(outputs.logits.float().cpu().numpy(), problem_type)
        weights = None
        if explain and method == "attention":
            if outputs.attentions is None:
                print(
                    f"note: {model.config.model_type} models have no attention weights, so --method attention draws "
                    "no heatmaps; attn_bilstm and the transformer types have them, and --method "
                    "integrated_gradients explains any model",
                    file=sys.stderr,
                )
                explain = False
            else:
                weights, source = token_weights(outputs.attentions)
                weights = weights.float().cpu().numpy()  # (batch, seq_len)
                if getattr(model.config, "pooling", None) == "attention_max":
                    source += "; max pooling gives the other half of the pooled vector"

        for offset, (row, probs) in enumerate(zip(rows, probabilities)):
            index = start + offset
            result = {
                "text": texts[index],
                **describe(probs, label_names, problem_type, threshold),
                "empty": empty[index],
            }
            ids = row["input_ids"]  # unpadded: exactly the tokens the model read, after the cut of long texts
            if weights is not None:
                tokens, token_scores = shown_tokens(ids, weights[offset, : len(ids)], tokenizer)
                title = f"Text {index + 1}: {headline(result)}  -  {source}\n{preview(texts[index], 90)}"
                path = output_dir / f"attention_{index + 1:0{digits}d}.png"
                result["attention_plot"] = str(plot_attention(tokens, token_scores, path, title=title))
                result["token_scores"] = [[token, float(score)] for token, score in zip(tokens, token_scores)]
            elif explain and method == "integrated_gradients":
                # The logit explained: the predicted class's (multi-label: the most probable label's), or the value.
                target = 0 if problem_type == REGRESSION else int(np.argmax(probs))
                ids_tensor = torch.tensor([ids], device=device)
                attribution = integrated_gradients(
                    model, ids_tensor, torch.ones_like(ids_tensor), target, tokenizer, args.ig_steps,
                    args.ig_baseline,
                )  # fmt: skip
                tokens, token_scores = shown_tokens(ids, attribution.scores, tokenizer)
                title = (
                    f"Text {index + 1}: {headline(result)}  -  integrated gradients, "
                    f"{args.ig_baseline} baseline, {attribution.steps} steps\n{preview(texts[index], 90)}"
                )
                path = output_dir / f"integrated_gradients_{index + 1:0{digits}d}.png"
                explained = (
                    "the predicted value" if problem_type == REGRESSION else f"the logit of {label_names[target]}"
                )
                score_name = f"Attribution to {explained}"
                plot_attention(tokens, token_scores, path, title=title, signed=True, score_name=score_name)
                result["integrated_gradients_plot"] = str(path)
                result["token_scores"] = [[token, float(score)] for token, score in zip(tokens, token_scores)]
                result["logit_difference_from_baseline"] = attribution.logit - attribution.baseline_logit
                result["completeness_error"] = attribution.completeness_error
                result["ig_steps"] = attribution.steps
            results.append(result)
            if args.json:
                print(json.dumps(result, ensure_ascii=False))
            elif problem_type == SINGLE_LABEL:
                scores = "  ".join(f"{name} {p:.3f}" for name, p in result["probabilities"].items())
                label = f"{result['label']:<{label_width}}"
                mark = "  (empty text)" if result["empty"] else ""
                print(f"{label}  {result['confidence']:.3f}  [{scores}]  {preview(texts[index])}{mark}")
            else:  # the labels above the threshold with their probabilities, or the value
                mark = "  (empty text)" if result["empty"] else ""
                print(f"{headline(result)}  {preview(texts[index])}{mark}")
            if not args.json:
                for kind in ("attention", "integrated_gradients"):
                    if f"{kind}_plot" in result:
                        print(f"{'':<{label_width}}  {kind.replace('_', ' ')}: {result[f'{kind}_plot']}")
    return results


if __name__ == "__main__":
    main()
