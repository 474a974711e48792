#!/usr/bin/env python
"""Export a trained model folder to ONNX, optionally with an int8 copy, for onnxruntime and other ONNX runtimes.

    python scripts/export.py --model outputs/attn_bilstm-tweet_sentiment
    python scripts/export.py --model outputs/bert-imdb --quantize int8 --output_dir outputs/bert-imdb-onnx

Works for every model type (the recurrent ones, BERT and DistilBERT with any fine-tuning strategy; a LoRA run's
folder holds the merged model). --output_dir (default MODEL-onnx) receives model.onnx (inputs input_ids and
attention_mask, dynamic batch and length; output logits), model_int8.onnx with --quantize int8 (dynamic int8
quantisation by onnxruntime), the tokenizer files and config.json (labels, text_truncation, the graphs). Run it
with `scripts/predict.py`, `scripts/evaluate_model.py` or `scripts/benchmark.py` and `--backend onnx` (or
onnx_int8). Needs the deploy extra: pip install -e ".[deploy]".
"""

import argparse
import json

import modeling  # noqa: F401  (registers the recurrent architectures with the Auto classes)
from modeling.errors import cli_entry_point
from modeling.export import export_folder


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="A saved model folder (the --output_dir of scripts/train.py).")
    parser.add_argument(
        "--quantize",
        choices=["int8"],
        default=None,
        help="Also write model_int8.onnx: weights in int8, activations quantised on the fly (default: fp32 only).",
    )
    parser.add_argument(
        "--output_dir", default=None, help="A new or empty folder for the export (default: MODEL-onnx)."
    )
    return parser.parse_args()


@cli_entry_point
def main() -> dict:
    args = parse_args()
    summary = export_folder(args.model, args.output_dir or f"{args.model.rstrip('/')}-onnx", args.quantize)
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
