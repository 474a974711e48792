#!/usr/bin/env python
"""Classify texts with a saved model folder (or an ONNX export); optionally show which tokens made each prediction.

    python scripts/predict.py --model outputs/attn_bilstm-tweet_sentiment "what a great day" "worst service ever"
    python scripts/predict.py --model outputs/bert-imdb --file reviews.txt --json > predictions.jsonl
    echo "so so" | python scripts/predict.py --model outputs/attn_bilstm-tweet_sentiment --explain

Texts come from the arguments, from --file (one per line) or, when neither is given, from standard input (one per
line). Each text's predicted label and class probabilities are printed, or one JSON object per line with --json.
--explain writes one heatmap per text into --output_dir and adds the token scores to the output. With --method
attention: the attention over time for attn_bilstm, and the last layer's attention from [CLS] averaged over heads
for the transformers. With --method integrated_gradients (any model type): each token's attribution to the
predicted label's logit, red for evidence for it, blue against. Only the tokens the model read are drawn. Any text
is accepted: empty or whitespace-only texts, any script, control characters; long texts are truncated to the
model's maximum length. --backend onnx runs an export folder of scripts/export.py with onnxruntime.
"""

import argparse
import json
import sys
from pathlib import Path

import datasets
import numpy as np
import torch
from scipy.special import softmax
from transformers import DataCollatorWithPadding

import modeling  # noqa: F401  (registers the recurrent architectures with the Auto classes)
from modeling.data import saved_truncation, tokenize_splits
from modeling.errors import UserInputError, cli_entry_point
from modeling.explain import add_explain_arguments, default_method, integrated_gradients
from modeling.export import BACKEND_HELP, BACKENDS, load_for_backend
from modeling.reporting import plot_attention

# Without any other limit (a tokenizer that records none, a model without position embeddings), truncate here.
FALLBACK_MAX_LENGTH = 512
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
        help="Truncate texts to this many tokens (default: the tokenizer's model_max_length, within the model's "
        "positions).",
    )
    parser.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda:0 (default: cuda if present).")
    args = parser.parse_args()
    for flag in ("batch_size", "max_length", "ig_steps"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            raise UserInputError(f"--{flag} must be positive, got {value}")
    if args.explain and args.backend != "torch":
        raise UserInputError("--explain needs the PyTorch model: pass the training folder, without --backend")
    return args


def split_lines(content: str) -> list[str]:
    """One text per line (`\\n` or `\\r\\n`); other control characters stay inside their text."""
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line starts no text
    return [line.removesuffix("\r") for line in lines]


def read_texts(args: argparse.Namespace) -> list[str]:
    """The texts from the arguments and --file, or else from standard input."""
    texts = list(args.texts)
    if args.file is not None:
        path = Path(args.file)
        if not path.is_file():
            raise UserInputError(f"--file {args.file} does not exist")
        texts += split_lines(path.read_text(encoding="utf-8", errors="replace"))
    elif not texts:
        if sys.stdin.isatty():
            print("reading texts from standard input, one per line; end with Ctrl-D", file=sys.stderr)
        stream = getattr(sys.stdin, "buffer", None)
        content = stream.read().decode("utf-8", errors="replace") if stream is not None else sys.stdin.read()
        texts = split_lines(content)
    if not texts:
        raise UserInputError("no texts to classify: give them as arguments, with --file F, or on standard input")
    return texts


def resolve_max_length(requested: int | None, model, tokenizer) -> int:
    """`requested`, or the tokenizer's model_max_length; never more positions than the model has."""
    positions = getattr(model.config, "max_position_embeddings", None)
    if requested is not None:
        if positions is not None and requested > positions:
            raise UserInputError(f"--max_length {requested} exceeds the model's {positions} positions")
        return requested
    limits = [positions, tokenizer.model_max_length if tokenizer.model_max_length < 1_000_000 else None]
    limits = [limit for limit in limits if limit is not None]
    return min(limits) if limits else FALLBACK_MAX_LENGTH


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
    texts = read_texts(args)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, tokenizer = load_for_backend(
        # The fused (sdpa, flash) attention kernels return no weights; the eager one does.
        args.model,
        args.backend,
        device,
        **({"attn_implementation": "eager"} if args.explain else {}),
    )
    method = (args.method or default_method(model)) if args.explain else None
    label_names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    max_length = resolve_max_length(args.max_length, model, tokenizer)

    # tokenize_splits gives a text that tokenises to nothing one [UNK], and cuts long ones, as in training.
    encoded = tokenize_splits(
        datasets.DatasetDict({"predict": datasets.Dataset.from_dict({"text": texts})}),
        tokenizer,
        max_length,
        saved_truncation(model.config),
    )["predict"]
    columns = [name for name in encoded.column_names if name in ("input_ids", "attention_mask", "token_type_ids")]
    encoded = encoded.select_columns(columns)
    collator = DataCollatorWithPadding(tokenizer)
    output_dir = Path(args.output_dir or Path(args.model) / "explanations")
    if args.explain:
        output_dir.mkdir(parents=True, exist_ok=True)
    digits = max(3, len(str(len(texts))))
    label_width = max(map(len, label_names))

    results, explain = [], args.explain
    for start in range(0, len(texts), args.batch_size):
        rows = [encoded[i] for i in range(start, min(start + args.batch_size, len(texts)))]
        batch = {key: value.to(device) for key, value in collator(rows).items()}
        with torch.no_grad():
            outputs = model(**batch, output_attentions=explain and method == "attention")
        probabilities = softmax(outputs.logits.float().cpu().numpy(), axis=-1)  # (batch, num_labels)
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

        for offset, (row, probs) in enumerate(zip(rows, probabilities)):
            index = start + offset
            predicted = int(probs.argmax())
            result = {
                "text": texts[index],
                "label": label_names[predicted],
                "confidence": float(probs[predicted]),
                "probabilities": {name: float(p) for name, p in zip(label_names, probs)},
            }
            ids = row["input_ids"]  # unpadded: exactly the tokens the model read, after the cut of long texts
            if weights is not None:
                tokens, token_scores = shown_tokens(ids, weights[offset, : len(ids)], tokenizer)
                title = (
                    f"Text {index + 1}: {result['label']} ({result['confidence']:.2f})  -  {source}\n"
                    f"{preview(texts[index], 90)}"
                )
                path = output_dir / f"attention_{index + 1:0{digits}d}.png"
                result["attention_plot"] = str(plot_attention(tokens, token_scores, path, title=title))
                result["token_scores"] = [[token, float(score)] for token, score in zip(tokens, token_scores)]
            elif explain and method == "integrated_gradients":
                ids_tensor = torch.tensor([ids], device=device)
                attribution = integrated_gradients(
                    model, ids_tensor, torch.ones_like(ids_tensor), predicted, tokenizer, args.ig_steps,
                    args.ig_baseline,
                )  # fmt: skip
                tokens, token_scores = shown_tokens(ids, attribution.scores, tokenizer)
                title = (
                    f"Text {index + 1}: {result['label']} ({result['confidence']:.2f})  -  integrated gradients, "
                    f"{args.ig_baseline} baseline, {attribution.steps} steps\n{preview(texts[index], 90)}"
                )
                path = output_dir / f"integrated_gradients_{index + 1:0{digits}d}.png"
                score_name = f"Attribution to the logit of {result['label']}"
                plot_attention(tokens, token_scores, path, title=title, signed=True, score_name=score_name)
                result["integrated_gradients_plot"] = str(path)
                result["token_scores"] = [[token, float(score)] for token, score in zip(tokens, token_scores)]
                result["logit_difference_from_baseline"] = attribution.logit - attribution.baseline_logit
                result["completeness_error"] = attribution.completeness_error
                result["ig_steps"] = attribution.steps
            results.append(result)
            if args.json:
                print(json.dumps(result, ensure_ascii=False))
            else:
                scores = "  ".join(f"{name} {p:.3f}" for name, p in result["probabilities"].items())
                label = f"{result['label']:<{label_width}}"
                print(f"{label}  {result['confidence']:.3f}  [{scores}]  {preview(texts[index])}")
                for kind in ("attention", "integrated_gradients"):
                    if f"{kind}_plot" in result:
                        print(f"{'':<{label_width}}  {kind.replace('_', ' ')}: {result[f'{kind}_plot']}")
    return results


if __name__ == "__main__":
    main()
