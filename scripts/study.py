#!/usr/bin/env python
"""Run scripts/train.py over a grid of settings, one run after another, and compare the runs.

    python scripts/study.py --vary model_type=lstm,gru,cnn_lstm,auto_lstm,attn_bilstm --seeds 1,2,3 \\
        --output_dir outputs/architectures -- --dataset tweet_sentiment
    python scripts/study.py --vary optimizer=sgd,sgd_momentum,rmsprop,adam --output_dir outputs/optimizers \\
        -- --model_type attn_bilstm
    python scripts/study.py --vary model_type=distilbert,bert --vary finetune_strategy=freeze,hybrid,full \\
        --output_dir outputs/finetuning -- --dataset bbc_news

Everything after `--` goes unchanged to every run; each --vary adds a dimension to the grid. Each run trains in
OUTPUT_DIR/<run name> (e.g. model_type-lstm_seed-1) with its output in train.log there, whose first line is the
run's train.py command. A run whose folder already holds finished results of the same train.py arguments is reused,
so the same command resumes an interrupted study; an unfinished run's folder is cleared and the run starts again.
Finished results of other arguments (the run name shows only the varied values and the seed, so e.g. another
--num_train_epochs after `--` lands in the same folders) are neither reused nor overwritten: the study stops before
running anything and names the folder; choose another --output_dir, or move the folder away to run it again.
A failed run is reported and the others go on; the study then exits with status 1.
The comparison goes to OUTPUT_DIR/comparison.md, comparison.csv and curves.png.
"""

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from transformers import HfArgumentParser

from modeling.arguments import RUN_DEFAULTS, train_argument_classes
from modeling.errors import UserInputError, cli_entry_point
from modeling.studies import (
    COMMAND_PREFIX,
    LOG_FILE,
    PlannedRun,
    check_fixed_arguments,
    check_vary,
    collect_study,
    flag_names,
    flag_value,
    is_finished,
    markdown_table,
    parse_flags,
    parse_seeds,
    parse_vary,
    plan_runs,
    plot_curves,
    read_curves,
    read_results,
    recorded_command,
    write_csv,
    write_markdown,
)

TRAIN_SCRIPT = Path(__file__).resolve().parent / "train.py"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s --vary KEY=V1,V2 [--vary KEY2=...] [--seeds 1,2,3] --output_dir DIR -- <train.py arguments>",
    )
    parser.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="A train.py flag (without dashes) and the values to try, comma-separated (';'-separated when the "
        "values contain commas). Repeat for a grid over several flags.",
    )
    parser.add_argument("--seeds", help="Comma-separated seeds: every configuration runs once per seed (--seed).")
    parser.add_argument("--output_dir", required=True, help="The study's folder: one subfolder per run, the tables.")
    parser.add_argument(
        "--convergence_tolerance",
        type=float,
        default=0.01,
        help="A run has converged at the first epoch whose validation macro-F1 is this close to its best.",
    )
    parser.add_argument(
        "--dry_run",
        action="store_true",
        help="Print the train.py commands, marking the finished runs that are reused or refused; run nothing.",
    )
    return parser


def train_flags() -> dict[str, list[str] | None]:
    """train.py's flags (without dashes) and their choices (None: any value), from its argument dataclasses."""
    parser = HfArgumentParser(train_argument_classes())
    flags = {}
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--"):
                flags[option[2:]] = [str(choice) for choice in action.choices] if action.choices else None
    return flags


def train_command(run: PlannedRun, train_arguments: list[str], run_dir: Path) -> list[str]:
    """The train.py command line of one run: the fixed arguments, the run's own, and its folder."""
    command = [
        sys.executable,
        str(TRAIN_SCRIPT),
        *train_arguments,
        *run.train_arguments(),
        "--output_dir",
        str(run_dir),
    ]
    # The run folder holds the log before train.py starts, and train.py refuses a non-empty folder unless told.
    if "overwrite_output_dir" not in flag_names(train_arguments):
        command.append("--overwrite_output_dir")
    return command


def run_flags(command: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """
    The train.py flags and values that decide a run's results, in any order or spelling. Left out: the interpreter
    and the script's path (they change with the machine or the checkout, not the run), --output_dir (the folder the
    results are in, however its path was written) and --overwrite_output_dir (what to do with that folder).
    """
    flags = parse_flags(command)
    for name in ("output_dir", "overwrite_output_dir"):
        flags.pop(name, None)
    return flags


def reuse_problem(run_dir: Path, command: Sequence[str]) -> str | None:
    """Why a finished run's results cannot stand for the run of `command`; None where its train.log shows they can."""
    recorded = recorded_command(run_dir)
    if recorded is None:
        # Results without the study's log (e.g. from train.py run by hand): nothing says which arguments made them.
        return "but its train.log does not record the train.py command they came from"
    then, now = run_flags(recorded), run_flags(command)
    if then == now:
        return None

    def shown(flags: dict[str, tuple[str, ...]], name: str) -> str:
        return "not given" if name not in flags else (shlex.join(flags[name]) or "given")

    changes = [
        f"--{name} was {shown(then, name)}, now {shown(now, name)}"
        for name in dict.fromkeys([*then, *now])
        if then.get(name) != now.get(name)
    ]
    return f"of other train.py arguments ({'; '.join(changes)})"


def check_run_folders(runs: list[PlannedRun], commands: list[list[str]], study_dir: Path) -> None:
    """
    Before anything runs: refuse to clear a folder the study did not make (unfinished runs are cleared before they
    start again), and to reuse finished results that another train.py command made, as the folder name shows only
    the varied values and the seed. Those results are not overwritten either: the user decides what happens to them.
    """
    stale = []
    for run, command in zip(runs, commands):
        run_dir = study_dir / run.name
        if is_finished(run_dir):
            problem = reuse_problem(run_dir, command)
            if problem:
                stale.append((run_dir, problem))
        elif run_dir.is_dir() and any(run_dir.iterdir()) and not (run_dir / LOG_FILE).is_file():
            raise UserInputError(
                f"{run_dir} exists and is not a run of this study; move it away or choose another --output_dir"
            )
    if stale:
        run_dir, problem = stale[0]
        more = f" (and {len(stale) - 1} more)" if len(stale) > 1 else ""
        raise UserInputError(
            f"{run_dir}{more} holds finished results {problem}; choose another --output_dir, or move the folder "
            "away to run it again"
        )


def last_line(path: Path) -> str:
    """The last non-empty line of a log (where train.py puts its one-line error), shortened."""
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def execute(command: list[str], run_dir: Path) -> bool:
    """Run one train.py command with its output in the run's log; True if it finished."""
    if run_dir.exists():
        shutil.rmtree(run_dir)  # left by an interrupted or failed run: its checkpoints must not mix with the new ones
    run_dir.mkdir(parents=True)
    log_path = run_dir / LOG_FILE
    # Unbuffered, so the log can be followed while the run trains.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("w", encoding="utf-8") as log:
        log.write(f"{COMMAND_PREFIX}{shlex.join(command)}\n")  # what reuse_problem compares with
        log.flush()
        returncode = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    return returncode == 0 and is_finished(run_dir)


def run_all(runs: list[PlannedRun], commands: list[list[str]], study_dir: Path) -> list[str]:
    """Run the runs that have not finished yet, one after another, with a progress line each; the failed names."""
    failed = []
    for index, (run, command) in enumerate(zip(runs, commands), 1):
        run_dir = study_dir / run.name
        print(f"[{index}/{len(runs)}] {run.name}: ", end="", flush=True)
        if is_finished(run_dir):  # by the same command: check_run_folders has refused any other
            print("finished earlier, reused", flush=True)
            continue
        start = time.perf_counter()
        if execute(command, run_dir):
            accuracy = read_results(run_dir)["test_accuracy"]
            print(f"done in {time.perf_counter() - start:.1f}s, test accuracy {accuracy:.4f}", flush=True)
        else:
            failed.append(run.name)
            print(f"FAILED ({last_line(run_dir / LOG_FILE)}); log: {run_dir / LOG_FILE}", flush=True)
    return failed


def command_line() -> str:
    """The command that started the study: as typed, interpreter included, when this file runs as a script."""
    if __name__ == "__main__":
        return shlex.join(sys.orig_argv)
    return shlex.join([Path(sys.executable).name, *sys.argv])


@cli_entry_point
def main() -> None:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = build_parser().parse_args(argv[:split])
    train_arguments = argv[split + 1 :]
    vary = [parse_vary(spec) for spec in args.vary]
    seeds = parse_seeds(args.seeds) if args.seeds else None
    check_vary(vary, train_flags())
    check_fixed_arguments(train_arguments, vary, seeds)
    runs = plan_runs(vary, seeds)
    study_dir = Path(args.output_dir)
    commands = [train_command(run, train_arguments, study_dir / run.name) for run in runs]

    if args.dry_run:
        for run, command in zip(runs, commands):
            run_dir = study_dir / run.name
            note = ""
            if is_finished(run_dir):
                problem = reuse_problem(run_dir, command)
                note = f"  # finished results {problem}: refused" if problem else "  # finished: reused"
            print(shlex.join(command) + note)
        return

    check_run_folders(runs, commands, study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    failed = run_all(runs, commands, study_dir)

    metric = flag_value(train_arguments, "metric_for_best_model") or RUN_DEFAULTS["metric_for_best_model"]
    metric = metric if metric.startswith("eval_") else f"eval_{metric}"
    greater = flag_value(train_arguments, "greater_is_better")
    greater_is_better = None if greater is None else greater.lower() in ("true", "t", "yes", "y", "1")
    keys = [key for key, _ in vary]
    per_run = collect_study(study_dir, runs, metric, greater_is_better, args.convergence_tolerance, failed)
    write_markdown(study_dir / "comparison.md", per_run, keys, command_line(), metric, args.convergence_tolerance)
    write_csv(study_dir / "comparison.csv", per_run, keys)
    finished = [run for run in runs if run.name not in failed]
    plot_curves(study_dir / "curves.png", [(run.label, read_curves(study_dir / run.name)) for run in finished])
    print(markdown_table(per_run, keys, metric))
    print(f"comparison: {study_dir / 'comparison.md'}, {study_dir / 'comparison.csv'}, {study_dir / 'curves.png'}")
    if failed:
        print(f"error: {len(failed)} of {len(runs)} runs failed: {', '.join(failed)}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
