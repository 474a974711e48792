#!/usr/bin/env python
"""Kill scripts/train.py with SIGKILL at random moments, recover, and check the result equals an uninterrupted run's.

    python tests/kill_resume_loop.py                 # 10 rounds (make kill-resume)
    python tests/kill_resume_loop.py --rounds 3 --seed 1

A tiny attention BiLSTM trains on the first rows of the bundled tweets, saving a checkpoint every few steps. One
uninterrupted run gives the reference. Each round starts a fresh run and kills it (SIGKILL, the whole process group)
at one moment, chosen with a seeded generator from the log lines and files the run produces:

- tokenisation: once the data are read ("Tokenizing" or the dataset's row counts in the log), after 0-0.3 s;
- training: 0.3-3 s after "***** Running training *****";
- checkpoint saving: as soon as the k-th checkpoint folder appears, before its trainer_state.json;
- final save: as soon as the temporary folder of the final model appears in the output folder;
- model card: 0-0.3 s after test_predictions.csv appears (the reports, then the card, are being written).

Then it resumes with --resume_from_checkpoint last where the folder holds a complete checkpoint, and otherwise runs
again with --overwrite_output_dir, and checks that the folder's test metrics equal the reference's, that the model
loads, and that no temporary file is left. Exits with status 1 if any round differs.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MOMENTS = ("tokenisation", "training", "checkpoint saving", "final save", "model card")
# Figures that depend on the clock, not on the model: left out of the comparison.
CLOCK_KEYS = ("runtime", "per_second")


def train_command(output_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable, str(REPO / "scripts" / "train.py"),
        "--model_type", "attn_bilstm", "--config_overrides", "embedding_dim=16,hidden_size=8",
        "--dataset", "tweet_sentiment", "--max_train_samples", "640", "--max_eval_samples", "200",
        "--max_test_samples", "200", "--num_train_epochs", "2", "--per_device_train_batch_size", "32",
        "--eval_strategy", "steps", "--save_strategy", "steps", "--eval_steps", "5", "--save_steps", "5",
        "--seed", "5", "--disable_tqdm", "true", "--output_dir", str(output_dir), *extra,
    ]  # fmt: skip


def environment() -> dict:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }


def run(command: list[str], log: Path) -> None:
    with log.open("a") as handle:
        result = subprocess.run(command, cwd=REPO, env=environment(), stdout=handle, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise SystemExit(f"{' '.join(command[1:3])} ... failed with status {result.returncode}:\n{tail}")


def test_metrics(folder: Path) -> dict:
    results = json.loads((folder / "all_results.json").read_text())
    return {
        key: value
        for key, value in results.items()
        if key.startswith("test_") and not any(part in key for part in CLOCK_KEYS)
    }


def trigger(moment: str, rng: random.Random, log: Path, output_dir: Path):
    """A function of the elapsed time that says when to kill (True), or False while it is not yet time."""
    state = {"since": None, "seen": set()}
    nth_checkpoint = rng.randint(1, 8)  # of the 8 the run saves
    delay = {"tokenisation": rng.uniform(0, 0.3), "training": rng.uniform(0.3, 3), "model card": rng.uniform(0, 0.3)}

    def due_after(condition: bool, seconds: float) -> bool:
        if state["since"] is None and condition:
            state["since"] = time.monotonic()
        return state["since"] is not None and time.monotonic() - state["since"] >= seconds

    def check() -> bool:
        from_log = moment in ("tokenisation", "training", "final save") and log.exists()
        text = log.read_text(errors="replace") if from_log else ""
        if moment == "tokenisation":
            return due_after("Tokenizing" in text or " rows, labels " in text, delay[moment])
        if moment == "training":
            return due_after("***** Running training *****" in text, delay[moment])
        if moment == "checkpoint saving":
            for folder in output_dir.glob("checkpoint-*"):
                if folder.name not in state["seen"] and not (folder / "trainer_state.json").exists():
                    state["seen"].add(folder.name)  # a checkpoint being written
                    if len(state["seen"]) == nth_checkpoint:
                        return True
            return False
        if moment == "final save":
            return any(output_dir.glob(".saving-*")) or f"Saving model checkpoint to {output_dir}\n" in text
        return due_after((output_dir / "test_predictions.csv").exists(), delay[moment])

    return check, f"checkpoint {nth_checkpoint}" if moment == "checkpoint saving" else f"{delay.get(moment, 0):.2f} s"


def kill_at(moment: str, rng: random.Random, output_dir: Path, log: Path) -> str:
    """Start a run and SIGKILL it at `moment`; return what happened."""
    check, detail = trigger(moment, rng, log, output_dir)
    with log.open("w") as handle:
        process = subprocess.Popen(
            train_command(output_dir), cwd=REPO, env=environment(), stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    started = time.monotonic()
    while process.poll() is None:
        if check():
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return f"killed during {moment} ({detail}) at {time.monotonic() - started:.1f} s"
        time.sleep(0.002)
    return f"not killed: the run ended (status {process.returncode}) before {moment} ({detail})"


def recover(output_dir: Path, log: Path) -> str:
    """Resume from the newest complete checkpoint, or run again over the folder; return which."""
    from modeling.errors import UserInputError
    from modeling.run_folder import resolve_resume

    try:
        checkpoint = resolve_resume("last", output_dir) if output_dir.is_dir() else None
    except UserInputError:
        checkpoint = None
    if checkpoint is not None:
        run(train_command(output_dir, "--resume_from_checkpoint", "last"), log)
        return f"resumed from {Path(checkpoint).name}"
    run(train_command(output_dir, "--overwrite_output_dir"), log)
    return "nothing to resume: ran again with --overwrite_output_dir"


def check_folder(output_dir: Path, reference: dict) -> list[str]:
    """What differs from the reference run, or is left over; empty when the folder is right."""
    import torch
    from transformers.utils import logging as transformers_logging

    from modeling.inference import load_model_folder

    transformers_logging.disable_progress_bar()
    problems = []
    metrics = test_metrics(output_dir)
    for key, value in reference.items():
        if key not in metrics or abs(metrics[key] - value) > 1e-6:
            problems.append(f"{key} {metrics.get(key)} != {value}")
    leftovers = [path.name for pattern in (".tmp-*", ".saving-*", ".removing-*") for path in output_dir.glob(pattern)]
    if leftovers:
        problems.append(f"left over: {leftovers}")
    if not (output_dir / "README.md").is_file():
        problems.append("no model card")
    load_model_folder(str(output_dir), torch.device("cpu"))
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10, help="Kills, each followed by a recovery (default 10).")
    parser.add_argument("--seed", type=int, default=0, help="Seeds the choice of moments and delays.")
    parser.add_argument("--work_dir", default=None, help="Where the runs go (default: a temporary folder).")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    moments = [MOMENTS[i % len(MOMENTS)] for i in range(args.rounds)]
    rng.shuffle(moments)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="kill-resume-"))
    work.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    run(train_command(work / "reference"), work / "reference.log")
    reference = test_metrics(work / "reference")
    shown = ", ".join(f"{key.removeprefix('test_')} {reference[key]:.4f}" for key in ("test_accuracy", "test_loss"))
    print(f"reference run: {shown} ({time.monotonic() - started:.0f} s)", flush=True)

    failures = 0
    for number, moment in enumerate(moments, 1):
        output_dir, log = work / f"round{number}", work / f"round{number}.log"
        what = kill_at(moment, rng, output_dir, log)
        how = recover(output_dir, log)
        problems = check_folder(output_dir, reference)
        failures += bool(problems)
        verdict = "test metrics equal" if not problems else "DIFFERENT: " + "; ".join(problems)
        print(f"round {number:2d}: {what}; {how}; {verdict}", flush=True)
    print(f"{args.rounds - failures} of {args.rounds} rounds ended with the reference's test metrics "
          f"({time.monotonic() - started:.0f} s; runs in {work})")  # fmt: skip
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
