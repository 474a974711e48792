#!/usr/bin/env python
"""Search train.py's hyperparameters with Optuna, through the Trainer's hyperparameter_search.

    python scripts/search.py --n_trials 30 --output_dir outputs/search-tweets -- --model_type attn_bilstm
    python scripts/search.py --n_trials 20 --trial_train_samples 8000 --trial_epochs 2 --train_best \\
        --output_dir outputs/search-tweets -- --model_type attn_bilstm --dataset tweet_sentiment

Everything after `--` is train.py's arguments. Each trial trains with them and one choice of the searched settings
(the model family's search space in modeling/registry.py, or --search_space FILE), on the training split, and is
scored by the validation metric train.py keeps checkpoints by (--metric_for_best_model, macro-F1 by default): the best
of its evaluations. The test split is never read. The data are read and tokenised once for all trials (once per
vocabulary size, where vocab_size is searched). Optuna's TPE sampler proposes the settings; its median pruner stops a
trial after an epoch whose score falls below the median of the earlier trials' at that epoch.

The study lives in a database: by default OUTPUT_DIR/study.db (SQLite), so the same command resumes an interrupted
search. Finished trials are kept; a trial whose process was killed is marked failed and its settings run again.
With --storage (any Optuna database URL, or journal:FILE) and one --study_name, processes on several machines share
one search; --n_trials counts the study's trials, whichever process ran them. A study keeps the train.py arguments
and search space it was started with, and refuses a command with others.

The search leaves in OUTPUT_DIR: trials.csv (every trial: state, value, duration, settings), best.json (the best
settings as train.py flags, and the train.py command), optimization_history.png, param_importances.png,
parallel_coordinate.png and slice.png. --train_best then trains the best settings with train.py in OUTPUT_DIR/best
(with its usual reports; its model card names the search).

study.py runs a fixed grid, one train.py process per run, each with its test results; a search needs one process
that keeps the data and the Trainer across trials, never looks at the test split, and prunes: hence its own script.
"""

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import transformers
import yaml
from transformers import HfArgumentParser, set_seed

from modeling.arguments import explicit_flags, parse_args, train_argument_classes
from modeling.data import load_data_config
from modeling.errors import UserInputError, cli_entry_point
from modeling.problem_types import SINGLE_LABEL
from modeling.reporting import write_model_card
from modeling.run_folder import TRAINING_ARGS_FILE
from modeling.search import (
    BEST_DIR,
    BEST_FILE,
    TRIALS_FILE,
    SearchProgress,
    TrialBuilder,
    best_flags,
    best_train_command,
    default_storage_url,
    finished_trials,
    import_optuna,
    load_search_data,
    metric_key,
    open_storage,
    open_study,
    requeue_interrupted_trials,
    resolve_search_space,
    shown_url,
    write_plots,
    write_trials_csv,
)

TRAIN_SCRIPT = Path(__file__).resolve().parent / "train.py"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s --n_trials N --output_dir DIR [options] -- <train.py arguments>",
    )
    parser.add_argument("--output_dir", help="The search's folder: its database, tables and plots (required).")
    parser.add_argument(
        "--n_trials",
        type=int,
        default=20,
        help="Trials of the study, completed or pruned, counting those of earlier or other processes (failed ones "
        "run again). Processes sharing a study each stop once the count is reached, so trials still running then "
        "finish too.",
    )
    parser.add_argument(
        "--search_space",
        metavar="FILE",
        help="A YAML or JSON file of the settings to search, in place of the model family's (see "
        "--print_search_space): 'name: {low: .., high: .., log: true, step: ..}' or 'name: {choices: [..]}'. Names: "
        "TrainingArguments fields (learning_rate, per_device_train_batch_size, ...), layerwise_lr_decay, "
        "adversarial_epsilon, momentum, vocab_size, or a recurrent type's config settings (dropout, ...).",
    )
    parser.add_argument(
        "--print_search_space", action="store_true", help="Print the search space as YAML (to edit into a file); exit."
    )
    parser.add_argument(
        "--storage",
        metavar="URL",
        help="Where the study lives: an Optuna database URL (sqlite:///FILE, postgresql://USER:PASSWORD@HOST/DB, "
        "mysql://...), or journal:FILE for processes on one machine or a shared file system without a database "
        "server. Default: sqlite:///OUTPUT_DIR/study.db.",
    )
    parser.add_argument(
        "--study_name",
        help="The study's name in the storage (default: OUTPUT_DIR's folder name). Processes given the same name "
        "and storage share one search.",
    )
    parser.add_argument(
        "--trial_train_samples",
        type=int,
        metavar="N",
        help="Trials train on the first N training rows only (--max_train_samples for the trials, not --train_best).",
    )
    parser.add_argument(
        "--trial_epochs",
        type=float,
        metavar="N",
        help="Trials train N epochs (--num_train_epochs for the trials, not --train_best).",
    )
    parser.add_argument(
        "--pruning_warmup_trials",
        type=int,
        default=5,
        metavar="N",
        help="No trial is pruned before N trials have completed (the median pruner's startup trials).",
    )
    parser.add_argument("--sampler_seed", type=int, help="Seed of the TPE sampler (default: unseeded).")
    parser.add_argument(
        "--train_best",
        action="store_true",
        help="Then train the best settings with train.py (the arguments after --, without --trial_* limits) in "
        "OUTPUT_DIR/best.",
    )
    return parser


def check_search_arguments(args: argparse.Namespace, train_arguments: list[str]) -> None:
    if not train_arguments:
        raise UserInputError("give train.py's arguments after --, e.g. -- --model_type attn_bilstm")
    if len(train_arguments) == 1 and train_arguments[0].endswith(".json"):
        raise UserInputError("give train.py's arguments as flags after --, not a JSON file")
    given = explicit_flags(HfArgumentParser(train_argument_classes()), train_arguments)
    if "output_dir" in given:
        raise UserInputError("--output_dir after -- has no use: give the search's --output_dir before --")
    for flag, value in (("--n_trials", args.n_trials), ("--trial_train_samples", args.trial_train_samples)):
        if value is not None and value <= 0:
            raise UserInputError(f"{flag} must be positive, got {value}")
    if args.trial_epochs is not None and args.trial_epochs <= 0:
        raise UserInputError(f"--trial_epochs must be positive, got {args.trial_epochs}")
    if args.pruning_warmup_trials < 0:
        raise UserInputError(f"--pruning_warmup_trials must be 0 or more, got {args.pruning_warmup_trials}")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UserInputError(
            "run the search as one process per device (CUDA_VISIBLE_DEVICES), sharing a study through --storage, "
            "not under torchrun or accelerate launch"
        )
    if not args.output_dir and not args.print_search_space:
        raise UserInputError("--output_dir is required: the search's folder")
    output_dir = Path(args.output_dir or ".")
    if output_dir.exists() and not output_dir.is_dir():
        raise UserInputError(f"--output_dir {output_dir} is a file; give a folder")


def trial_arguments(args: argparse.Namespace, train_arguments: list[str]) -> list[str]:
    """train.py's arguments for the trials: those after --, with the --trial_* limits."""
    extra = []
    if args.trial_train_samples is not None:
        extra += ["--max_train_samples", str(args.trial_train_samples)]
    if args.trial_epochs is not None:
        extra += ["--num_train_epochs", f"{args.trial_epochs:g}"]
    return [*train_arguments, *extra]


def train_best(command: list[str], best_dir: Path, summary: dict) -> None:
    """Run train.py with the best settings; record the search in its training_args.json and model card."""
    print(f"training the best settings in {best_dir}:\n  {shlex.join(command)}", flush=True)
    returncode = subprocess.run(command).returncode
    if returncode != 0:
        print(f"error: the final train.py run exited with status {returncode}", file=sys.stderr)
        raise SystemExit(1)
    path = best_dir / TRAINING_ARGS_FILE
    arguments = json.loads(path.read_text())
    arguments["hyperparameter_search"] = summary
    path.write_text(json.dumps(arguments, indent=2) + "\n")
    write_model_card(best_dir)  # keeps the dataset details of train.py's card, adds the search's line


@cli_entry_point
def main() -> None:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = build_parser().parse_args(argv[:split])
    train_arguments = argv[split + 1 :]
    check_search_arguments(args, train_arguments)
    optuna = import_optuna()  # before anything is read: a missing extra is a one-line error
    trial_argv = trial_arguments(args, train_arguments)
    model_args, data_args, training_args, distillation_args = parse_args(argv=trial_argv)
    if distillation_args.teacher_model_name_or_path is not None:
        raise UserInputError(
            "a search does not distil: search without --teacher_model_name_or_path, then give train.py the best "
            "settings and the teacher"
        )
    problem_type = load_data_config(data_args.dataset).problem_type
    if problem_type != SINGLE_LABEL:
        raise UserInputError(f"scripts/search.py searches single-label classification; this data is {problem_type}")
    space = resolve_search_space(model_args.spec, model_args, args.search_space)
    if args.print_search_space:
        print(yaml.safe_dump({name: parameter.as_spec() for name, parameter in space.items()}, sort_keys=False))
        return

    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%H:%M:%S")
    transformers.utils.logging.set_verbosity_warning()
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    # The trials save nothing, but the Trainer makes its output_dir: the search's folder, not train.py's default.
    training_args.output_dir = str(output_dir)
    storage_url = args.storage or default_storage_url(output_dir)
    storage = open_storage(storage_url)
    study_name = args.study_name or output_dir.resolve().name
    metric = training_args.metric_for_best_model
    direction = "maximize" if training_args.greater_is_better else "minimize"
    record = {
        "train_arguments": trial_argv,
        "search_space": {name: parameter.as_spec() for name, parameter in space.items()},
    }
    study = open_study(storage, study_name, direction, record, shown_url(storage_url))
    requeued = requeue_interrupted_trials(study)
    done = len(finished_trials(study))
    print(
        f"study {study_name!r} in {shown_url(storage_url)}: {done} of {args.n_trials} trials finished"
        + (f"; trials {', '.join(map(str, requeued))} stopped before their end and run again" if requeued else ""),
        flush=True,
    )

    started = time.monotonic()
    if done < args.n_trials:
        set_seed(training_args.seed)
        raw, max_length, truncation = load_search_data(data_args, training_args.seed)
        checkpoint = (
            (model_args.model_name_or_path or model_args.spec.default_checkpoint)
            if model_args.spec.is_pretrained
            else None
        )
        builder = TrialBuilder(model_args, data_args, training_args, space, raw, checkpoint, max_length, truncation)
        trainer = builder.build_trainer()
        trainer.progress = SearchProgress(args.n_trials, metric, direction == "maximize")
        trainer.hyperparameter_search(
            hp_space=builder.hp_space,
            compute_objective=lambda metrics: metrics[metric_key(metric)],
            n_trials=args.n_trials - done,
            direction=direction,
            backend="optuna",
            storage=storage,
            study_name=study_name,
            load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=args.sampler_seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=args.pruning_warmup_trials),
        )

    # What the search leaves.
    trials = study.get_trials(deepcopy=False)
    states = {state: sum(trial.state.name == state for trial in trials) for state in ("COMPLETE", "PRUNED", "FAIL")}
    write_trials_csv(study, output_dir / TRIALS_FILE)
    plots = write_plots(study, output_dir)
    print(
        f"{len(finished_trials(study))} trials finished: {states['COMPLETE']} completed, {states['PRUNED']} pruned "
        f"({states['FAIL']} failed and run again); this process: {time.monotonic() - started:.0f}s",
        flush=True,
    )
    if not states["COMPLETE"]:
        raise UserInputError(f"no trial of study {study_name!r} completed; nothing to report in {output_dir}")
    best = study.best_trial
    flags = best_flags(best.params, space, model_args)
    best_dir = output_dir / BEST_DIR
    command = [sys.executable, str(TRAIN_SCRIPT), *best_train_command(train_arguments, flags, best_dir)]
    summary = {
        "study_name": study_name,
        "storage": shown_url(storage_url),
        "folder": str(output_dir.resolve()),
        "metric": metric,
        "direction": direction,
        "best_trial": best.number,
        "best_value": best.value,
        "finished_trials": len(finished_trials(study)),
        "completed": states["COMPLETE"],
        "pruned": states["PRUNED"],
        "searched": list(space),
        "trial_arguments": trial_argv,
    }
    best_record = {**summary, "params": best.params, "flags": flags, "train_command": shlex.join(command)}
    (output_dir / BEST_FILE).write_text(json.dumps(best_record, indent=2) + "\n")
    print(f"best: trial {best.number}, validation {metric} {best.value:.4f}: {shlex.join(flags)}")
    print(f"wrote {', '.join([TRIALS_FILE, BEST_FILE, *plots])} in {output_dir}", flush=True)
    if args.train_best:
        train_best([*command, "--overwrite_output_dir"], best_dir, summary)


if __name__ == "__main__":
    main()
