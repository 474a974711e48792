#!/usr/bin/env python
"""Train and time this project beside the programs its users run today: same data, same machine, one invocation.

    python scripts/benchmark.py                      # all three comparisons (on the GPU when there is one)
    python scripts/benchmark.py --comparisons bilstm-tweet_sentiment --limit 4000 --epochs 1   # a quick look

Each comparison runs the project's scripts/train.py and a reference program from --peers_dir on the same files:

- `bilstm-tweet_sentiment`: `--model_type attn_bilstm` against seed_bilstm.py (a hand-written loop), max_len 64;
- `bilstm-imdb`: the same on imdb at max_len 256;
- `minilm-tweet_sentiment`: `--model_type bert --model_name_or_path MODEL_DIR` against hf_recipe.py (the Hugging Face
  text-classification example's defaults), max_len 128.

Both sides train a fixed number of epochs, so that the timed runs compare: --epochs for both, or else each its own
(the reference program's default; the project's is the comparison's `epochs`, 4 for the BiLSTM and 3 for MiniLM, the
lengths train.py trained for before it stopped recurrent models by their validation score). The project's runs pass
--num_train_epochs, which turns train.py's early stopping off. Both keep their other defaults (the project's are its
fast settings) unless --limit sets the training rows for both. Every program runs in its own process through
scripts/run_profiled.py, and is measured the same way:

- test accuracy and macro-F1;
- training samples/s, counted as the reference program counts it: hf_recipe's (the Trainer's figure) includes the
  per-epoch evaluations, seed_bilstm's does not, so against it the project's evaluation time is taken out too;
- forward latency in ms at batch 1 (median of 200 test texts after 20 warm-up passes, the reference programs'
  protocol) and at batch 64 (median of 20 batches of consecutive test texts after 3), inputs tokenised and padded
  by each program's own code and already on the device. Both trained models are timed in one process (the
  reference's, once it has finished), taking turns every 20 texts or 5 batches, so that a drift in the machine's
  speed falls on both alike (the reference's own printed figure is kept in the JSON as
  `latency_ms_b1_self_reported`);
- peak memory: GPU memory torch held at once, or on a CPU the peak resident memory of the process, both read when
  the program ends (before the latencies are timed);
- wall time of the whole program, data loading and tokenisation included.

With --onnx, the project's trained folder is also exported by scripts/export.py (fp32 and int8 graphs), their test
accuracy and macro-F1 measured with onnxruntime, and both graphs timed in the same turns as the two PyTorch models;
they get rows of their own. The table gives each figure and the project's as a ratio of the reference's (accuracy
as a difference). Results go
to --output_dir: benchmark.json (every figure, the machine, the library versions), benchmark.md (the table) and one
log per program. A comparison that fails is reported and the others still run.
"""

import argparse
import datetime
import gzip
import itertools
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers
from transformers import DataCollatorWithPadding

from modeling.data import encode_texts, load_data_config, load_splits
from modeling.errors import UserInputError, cli_entry_point
from modeling.export import export_folder, load_for_backend
from modeling.inference import saved_cut
from modeling.timing import BATCH_COUNT, SINGLE_COUNT

SCRIPTS_DIR = Path(__file__).resolve().parent
REPO = SCRIPTS_DIR.parent


SHARED = REPO.parent / "shared"
BATCH_SIZE = 64  # the batched latency's batch, the reference programs' training batch
# With --onnx: the backends the project's model is timed on, their rows' names, and the export's folder in its run's.
ONNX_BACKENDS = {"onnx": "scripts/train.py, ONNX fp32", "onnx_int8": "scripts/train.py, ONNX int8"}
ONNX_FOLDER = "onnx"


@dataclass(frozen=True)
class Comparison:
    """The project's train.py against one reference program on one dataset."""

    dataset: str
    max_length: int
    peer: str  # file name in --peers_dir
    project_flags: tuple[str, ...]  # besides the data, length, epochs and limit flags every run gets
    epochs: float  # the project's fixed epochs unless --epochs sets them

    def peer_args(self, args: argparse.Namespace) -> list[str]:
        data = [str(args.data_root), self.dataset]
        if self.peer == "seed_bilstm.py":
            return [*data, "--max_len", str(self.max_length)]
        return [*data, str(args.model_dir)]  # hf_recipe.py pads to 128 itself

    def project_args(self, args: argparse.Namespace, output_dir: Path) -> list[str]:
        flags = [flag.replace("{model_dir}", str(args.model_dir)) for flag in self.project_flags]
        return [
            *flags,
            "--dataset",
            self.dataset,
            "--data_dir",
            str(args.data_root / self.dataset),
            "--max_length",
            str(self.max_length),
            "--output_dir",
            str(output_dir),
            "--overwrite_output_dir",
            "--disable_tqdm",
            "true",
        ]


COMPARISONS = {
    "bilstm-tweet_sentiment": Comparison(
        "tweet_sentiment", 64, "seed_bilstm.py", ("--model_type", "attn_bilstm"), epochs=4
    ),
    "bilstm-imdb": Comparison("imdb", 256, "seed_bilstm.py", ("--model_type", "attn_bilstm"), epochs=4),
    "minilm-tweet_sentiment": Comparison(
        "tweet_sentiment",
        128,
        "hf_recipe.py",
        ("--model_type", "bert", "--model_name_or_path", "{model_dir}"),
        epochs=3,
    ),
}

# Table columns: figure key -> (header, format, how the project's figure compares with the reference's).
COLUMNS = {
    "epochs": ("epochs (fixed)", "{:g}", None),
    "test_accuracy": ("test acc", "{:.4f}", "difference"),
    "test_f1_macro": ("macro-F1", "{:.4f}", "difference"),
    "train_samples_per_s": ("train samples/s", "{:,.0f}", "ratio"),
    "latency_ms_b1": ("latency b1 (ms)", "{:.2f}", "ratio"),
    "latency_ms_b64": (f"latency b{BATCH_SIZE} (ms)", "{:.1f}", "ratio"),
    "peak_memory_mb": ("peak memory (MB)", "{:,.0f}", "ratio"),
    "wall_s": ("wall time (s)", "{:.1f}", "ratio"),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--comparisons",
        default=",".join(COMPARISONS),
        help=f"Comma-separated, from: {', '.join(COMPARISONS)} (default: all).",
    )
    parser.add_argument(
        "--peers_dir", type=Path, default=SHARED / "peers", help="Folder of seed_bilstm.py and hf_recipe.py."
    )
    parser.add_argument(
        "--data_root",
        type=Path,
        default=SHARED / "datasets",
        help="Folder with <dataset>/{train,validation,test}.jsonl.gz, read by both sides.",
    )
    parser.add_argument(
        "--model_dir",
        type=Path,
        default=SHARED / "models" / "minilm-l6-h384-uncased",
        help="The pretrained checkpoint both sides fine-tune in the minilm comparison.",
    )
    parser.add_argument(
        "--epochs",
        type=float,
        default=None,
        help="Epochs for both sides (default: each its own fixed number; the project's: 4 for the BiLSTM, 3 for "
        "MiniLM). Either way the project's runs train that many, with no early stopping.",
    )
    parser.add_argument("--limit", type=int, default=None, help="Train both sides on the first N training rows only.")
    parser.add_argument(
        "--eval_limit",
        type=int,
        default=None,
        help="Validate and test both sides on the first N rows of those splits only (copied into OUTPUT_DIR/data): "
        "imdb's 25,000 test reviews take long on a CPU.",
    )
    parser.add_argument(
        "--project_args",
        default="",
        help="More train.py flags for the project's runs, in one quoted string (e.g. to measure a setting).",
    )
    parser.add_argument(
        "--onnx",
        action="store_true",
        help="Also export the project's model to ONNX (fp32 and int8), and measure both graphs' test accuracy and "
        "latencies with onnxruntime beside the PyTorch model (needs the deploy extra).",
    )
    parser.add_argument("--output_dir", type=Path, default=Path("outputs/benchmark"), help="Where results go.")
    args = parser.parse_args()
    # The programs run with the repository as their working directory: hand them absolute paths.
    for name in ("peers_dir", "data_root", "model_dir", "output_dir"):
        setattr(args, name, getattr(args, name).resolve())
    args.comparisons = [name.strip() for name in args.comparisons.split(",") if name.strip()]
    for name in args.comparisons:
        if name not in COMPARISONS:
            raise UserInputError(f"unknown comparison {name!r}; choose from: {', '.join(COMPARISONS)}")
    for flag, value in (("--epochs", args.epochs), ("--limit", args.limit), ("--eval_limit", args.eval_limit)):
        if value is not None and value <= 0:
            raise UserInputError(f"{flag} must be positive, got {value}")
    peers = {COMPARISONS[name].peer for name in args.comparisons}
    for peer in peers:
        if not (args.peers_dir / peer).is_file():
            raise UserInputError(
                f"{args.peers_dir / peer} does not exist; point --peers_dir at the reference programs"
            )
    datasets_needed = {COMPARISONS[name].dataset for name in args.comparisons}
    for dataset in datasets_needed:
        if not (args.data_root / dataset).is_dir():
            raise UserInputError(f"{args.data_root / dataset} does not exist; point --data_root at the datasets")
    if "hf_recipe.py" in peers and not (args.model_dir / "config.json").is_file():
        raise UserInputError(f"{args.model_dir} holds no config.json; point --model_dir at a checkpoint folder")
    return args


def write_shortened_splits(data_root: Path, dataset: str, limit: int, output_root: Path) -> None:
    """Copy `dataset`'s files to output_root with only the first `limit` rows of validation and test."""
    folder = output_root / dataset
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "validation", "test"):
        source, target = data_root / dataset / f"{split}.jsonl.gz", folder / f"{split}.jsonl.gz"
        if split == "train":
            shutil.copyfile(source, target)
            continue
        with gzip.open(source, "rt", encoding="utf-8") as reader, gzip.open(target, "wt", encoding="utf-8") as writer:
            writer.writelines(itertools.islice(reader, limit))


def run_program(
    script: Path, script_args: list[str], log_path: Path, batch_size: int | None = None, env: dict | None = None
) -> dict:
    """
    Run `python script script_args` through run_profiled.py (with `env` added to the environment), its output into
    `log_path`; return run_profiled's report, which holds the program's peak memory as it stood when the program
    ended (the latencies timed after it load another model).
    """
    report_path = log_path.with_suffix(".profile.json")
    report_path.unlink(missing_ok=True)
    env = {**os.environ, **(env or {}), "BENCHMARK_BATCH_SIZE": str(batch_size or 0)}
    command = [sys.executable, str(SCRIPTS_DIR / "run_profiled.py"), str(report_path), str(script), *script_args]
    print(f"  $ {shlex.join(command[3:])}\n    (log: {log_path})", flush=True)
    with log_path.open("w") as log:
        log.write(shlex.join(command) + "\n")
        log.flush()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    report["exit_code"] = process.returncode
    report.setdefault("peak_rss_mb", usage.ru_maxrss / 1024)  # killed before it could say: the kernel's figure (KB)
    return report


def last_json_line(log_path: Path) -> dict:
    """The last line of the log that parses as a JSON object (the reference programs print their figures so)."""
    for line in reversed(log_path.read_text().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise RuntimeError(f"no JSON figures in {log_path}")


def peak_memory_mb(report: dict) -> float:
    return report["gpu_peak_mb"] if report.get("gpu_peak_mb") is not None else report["peak_rss_mb"]


def run_peer(name: str, args: argparse.Namespace, log_path: Path, project_dir: Path) -> tuple[dict, dict]:
    """
    Run comparison `name`'s reference program; return its figures, and the latencies of the project's model in
    `project_dir`, timed in turns with the reference's model at the end of its process.
    """
    comparison = COMPARISONS[name]
    script_args = comparison.peer_args(args)
    if args.epochs is not None:
        script_args += ["--epochs", f"{args.epochs:g}"]
    if args.limit is not None:
        script_args += ["--limit", str(args.limit)]
    paired = {
        "BENCHMARK_PROJECT_MODEL": str(project_dir),
        "BENCHMARK_COMPARISON": name,
        "BENCHMARK_DATA_ROOT": str(args.data_root),
        "BENCHMARK_PROJECT_BACKENDS": ",".join(["torch", *(ONNX_BACKENDS if args.onnx else [])]),
    }
    report = run_program(args.peers_dir / comparison.peer, script_args, log_path, batch_size=BATCH_SIZE, env=paired)
    if report["exit_code"] != 0:
        raise RuntimeError(f"{comparison.peer} exited with status {report['exit_code']}; see {log_path}")
    if "project_latency_ms_b1" not in report:
        raise RuntimeError(f"timing the two models after {comparison.peer} failed; see {log_path}")
    printed = last_json_line(log_path)
    peer = {
        "program": comparison.peer,
        "epochs": printed["epochs"],
        "test_accuracy": printed["test_acc"],
        "test_f1_macro": printed["test_f1_macro"],
        "train_samples_per_s": printed["train_samples_per_s"],
        "latency_ms_b1": report["latency_ms_b1"],
        "latency_ms_b64": report["latency_ms_batched"],
        "latency_ms_b1_self_reported": printed["latency_ms_b1"],
        "peak_memory_mb": peak_memory_mb(report),
        "wall_s": report["wall_s"],
    }
    project_latencies = {
        backend: {
            "latency_ms_b1": report[f"{prefix}latency_ms_b1"],
            "latency_ms_b64": report[f"{prefix}latency_ms_batched"],
        }
        for backend, prefix in [("torch", "project_"), *((b, f"project_{b}_") for b in ONNX_BACKENDS)]
        if f"{prefix}latency_ms_b1" in report
    }
    return peer, project_latencies


def run_project(name: str, args: argparse.Namespace, log_path: Path, output_dir: Path) -> dict:
    """Run scripts/train.py; return its figures (its latencies come later, timed beside the reference's model)."""
    comparison = COMPARISONS[name]
    script_args = comparison.project_args(args, output_dir)
    # Always a fixed number of epochs: an explicit --num_train_epochs turns train.py's early stopping off.
    script_args += ["--num_train_epochs", f"{args.epochs if args.epochs is not None else comparison.epochs:g}"]
    if args.limit is not None:
        script_args += ["--max_train_samples", str(args.limit)]
    script_args += shlex.split(args.project_args)
    report = run_program(SCRIPTS_DIR / "train.py", script_args, log_path)
    if report["exit_code"] != 0:
        raise RuntimeError(f"train.py exited with status {report['exit_code']}; see {log_path}")
    results = json.loads((output_dir / "all_results.json").read_text())
    samples_per_s = results["train_samples_per_second"]
    if comparison.peer == "seed_bilstm.py":
        # seed_bilstm.py stops its clock while it evaluates; the Trainer's figure counts the per-epoch evaluations.
        # Take their time out, as it does (checkpoint saving stays in).
        state = json.loads((output_dir / "trainer_state.json").read_text())
        evaluating = sum(entry.get("eval_runtime", 0.0) for entry in state["log_history"])
        runtime = results["train_runtime"]
        samples_per_s *= runtime / (runtime - evaluating)
    return {
        "program": "scripts/train.py",
        "epochs": json.loads((output_dir / "training_args.json").read_text())["num_train_epochs"],
        "test_accuracy": results["test_accuracy"],
        "test_f1_macro": results["test_f1_macro"],
        "train_samples_per_s": samples_per_s,
        "peak_memory_mb": peak_memory_mb(report),
        "wall_s": report["wall_s"],
    }


def onnx_figures(name: str, args: argparse.Namespace, project_dir: Path) -> dict:
    """
    Export the project's trained folder (fp32 and int8) into `project_dir/onnx`; return each graph's test accuracy
    and macro-F1, measured with onnxruntime on the test split train.py scored, cut and padded as it does.
    """
    from sklearn.metrics import accuracy_score, f1_score

    comparison = COMPARISONS[name]
    onnx_dir = project_dir / ONNX_FOLDER
    shutil.rmtree(onnx_dir, ignore_errors=True)  # this benchmark's own export of an earlier run
    export_folder(project_dir, onnx_dir, quantize="int8")
    test = load_splits(load_data_config(comparison.dataset), str(args.data_root / comparison.dataset))["test"]
    figures = {}
    for backend, program in ONNX_BACKENDS.items():
        model, tokenizer = load_for_backend(str(onnx_dir), backend, torch.device("cpu"))
        max_length, truncation = saved_cut(model, tokenizer, comparison.max_length)
        encoded = encode_texts(tokenizer, list(test["text"]), max_length, truncation)
        rows = [dict(zip(encoded, row)) for row in zip(*encoded.values())]
        collator = DataCollatorWithPadding(tokenizer)
        predictions = []
        for start in range(0, len(rows), BATCH_SIZE):
            predictions += model(**collator(rows[start : start + BATCH_SIZE])).logits.argmax(-1).tolist()
        labels = list(test["label"])
        figures[backend] = {
            "program": program,
            "test_accuracy": accuracy_score(labels, predictions),
            "test_f1_macro": f1_score(labels, predictions, average="macro"),
        }
    return figures


def project_timing_inputs(model_dir: str, comparison_name: str, data_root: str, backend: str = "torch") -> tuple:
    """
    The trained model in `model_dir` (with an ONNX `backend`, its export in `model_dir/onnx`, run by onnxruntime)
    and what its latencies are timed on: the first test texts the reference programs time, one at a time and in
    batches of consecutive ones, tokenised and padded as scripts/predict.py does (to the longest text of the batch).
    Returns `(forward, singles, batches)`, the inputs already on the model's device.
    """
    comparison = COMPARISONS[comparison_name]
    device = torch.device("cuda" if torch.cuda.is_available() and backend == "torch" else "cpu")
    folder = model_dir if backend == "torch" else str(Path(model_dir) / ONNX_FOLDER)
    model, tokenizer = load_for_backend(folder, backend, device)
    test = load_splits(load_data_config(comparison.dataset), str(Path(data_root) / comparison.dataset))["test"]
    texts = test.select(range(min(len(test), max(SINGLE_COUNT, BATCH_SIZE * BATCH_COUNT))))["text"]
    collator = DataCollatorWithPadding(tokenizer)

    max_length, truncation = saved_cut(model, tokenizer, comparison.max_length)  # the peers' length

    def prepare(batch: list[str]) -> dict:
        encoded = encode_texts(tokenizer, batch, max_length, truncation)
        rows = [dict(zip(encoded, row)) for row in zip(*encoded.values())]
        return {key: value.to(device) for key, value in collator(rows).items()}

    singles = [prepare([texts[i % len(texts)]]) for i in range(SINGLE_COUNT)]
    batches = [prepare(texts[i : i + BATCH_SIZE]) for i in range(0, len(texts), BATCH_SIZE)][:BATCH_COUNT]
    return (lambda batch: model(**batch)), singles, batches


def compare(project: dict, peer: dict) -> dict:
    """The project's figures against the reference's: ratios, and differences for accuracy and F1."""
    figures = {}
    for key, (_, _, kind) in COLUMNS.items():
        if kind is None or project.get(key) is None or peer.get(key) is None:
            continue
        figures[key] = project[key] - peer[key] if kind == "difference" else project[key] / peer[key]
    return figures


def machine_description() -> dict:
    """The device, the library versions and the date, for the record."""
    import datasets

    if torch.cuda.is_available():
        device = torch.cuda.get_device_name(0)
    else:
        device = platform.processor() or platform.machine()
        cpuinfo = Path("/proc/cpuinfo")
        if cpuinfo.is_file():
            names = [
                line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line
            ]
            device = names[0] if names else device
        device = f"CPU: {device}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"
    return {
        "device": device,
        "date": datetime.date.today().isoformat(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "datasets": datasets.__version__,
    }


def format_table(results: dict) -> str:
    """The markdown table: per comparison the reference's row, the project's row and the comparison row."""
    header = ["comparison", "program", *(title for title, _, _ in COLUMNS.values())]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, result in results.items():
        if "error" in result:
            lines.append(f"| {name} | failed: {result['error']} |" + " |" * (len(header) - 2))
            continue
        sides = ["project", *(backend for backend in ONNX_BACKENDS if backend in result)]
        for side in ("peer", *sides):
            figures = result[side]
            cells = [
                "" if figures.get(key) is None else fmt.format(figures[key]) for key, (_, fmt, _) in COLUMNS.items()
            ]
            lines.append(f"| {name} | {figures['program']} | " + " | ".join(cells) + " |")
        for side in sides:
            cells = []
            for key, (_, _, kind) in COLUMNS.items():
                value = result[f"{side}_vs_peer"].get(key)
                cells.append("" if value is None else (f"{value:+.4f}" if kind == "difference" else f"{value:.2f}×"))
            versus = "project" if side == "project" else ONNX_BACKENDS[side].split(", ")[1]
            lines.append(f"| {name} | **{versus} vs reference** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@cli_entry_point
def main() -> dict:
    args = parse_args()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    if args.eval_limit is not None:
        shortened = args.output_dir / "data"
        for dataset in {COMPARISONS[name].dataset for name in args.comparisons}:
            write_shortened_splits(args.data_root, dataset, args.eval_limit, shortened)
        args.data_root = shortened
    summary = {"machine": machine_description(), "command": shlex.join(sys.argv), "results": {}}
    print(f"benchmark on {summary['machine']['device']}; results in {args.output_dir}")
    for name in args.comparisons:
        print(f"[{name}]", flush=True)
        try:
            project_dir = args.output_dir / f"project-{name}"
            project = run_project(name, args, args.output_dir / f"{name}.project.log", project_dir)
            exported = onnx_figures(name, args, project_dir) if args.onnx else {}
            peer, project_latencies = run_peer(name, args, args.output_dir / f"{name}.peer.log", project_dir)
            project.update(project_latencies["torch"])
            summary["results"][name] = {"peer": peer, "project": project, "project_vs_peer": compare(project, peer)}
            for backend, figures in exported.items():
                figures.update(project_latencies[backend])
                summary["results"][name][backend] = figures
                summary["results"][name][f"{backend}_vs_peer"] = compare(figures, peer)
        except RuntimeError as error:
            print(f"  failed: {error}", file=sys.stderr)
            summary["results"][name] = {"error": str(error)}
        # Written after every comparison, so a later failure or interruption loses nothing already measured.
        (args.output_dir / "benchmark.json").write_text(json.dumps(summary, indent=2) + "\n")
    machine = summary["machine"]
    table = format_table(summary["results"])
    versions = ", ".join(f"{key} {machine[key]}" for key in ("python", "torch", "transformers", "datasets"))
    (args.output_dir / "benchmark.md").write_text(
        f"{machine['device']}; {machine['date']}; {versions}\n\n`{summary['command']}`\n\n{table}\n"
    )
    print(table)
    if any("error" in result for result in summary["results"].values()):
        raise SystemExit(1)
    return summary


if __name__ == "__main__":
    main()
