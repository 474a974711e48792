"""Plan a study (a grid of `scripts/train.py` runs) and compare its runs in a table and a plot.

A run is one train.py `--output_dir`. Its results come from the files train.py leaves there: `all_results.json`
(final metrics, run time and parameter counts), `trainer_state.json` (the per-epoch validation metrics) and
`test_predictions.csv` (one row per test text). `scripts/study.py` runs the grid; the functions here also work on
its folder afterwards, e.g. from a notebook.
"""

import difflib
import itertools
import json
import math
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .errors import UserInputError

RESULTS_FILE = "all_results.json"
STATE_FILE = "trainer_state.json"
PREDICTIONS_FILE = "test_predictions.csv"
LOG_FILE = "train.log"
# scripts/study.py starts each run's log with this prompt and the run's command on one line, so that a later study can
# tell whether the results in a folder came from the command it would run now.
COMMAND_PREFIX = "$ "
# train.py rewrites all_results.json after training, after evaluation and after testing; only the test metrics show
# that a run got to the end, so a folder whose file lacks them is a run that was interrupted.
FINISHED_KEY = "test_accuracy"
# Flags a study sets itself for every run.
RESERVED_FLAGS = {
    "seed": "vary the seed with --seeds, which also averages the results over seeds",
    "output_dir": "the study gives each run its own folder under the study's --output_dir",
}
# Characters that are not safe in a folder name on every system.
_UNSAFE = re.compile(r'[\s<>:"/\\|?*]+')

# The per-run figures, in table order, with their markdown header and format.
METRIC_COLUMNS = {
    "val_accuracy": ("val accuracy", "{:.4f}"),
    "test_accuracy": ("test accuracy", "{:.4f}"),
    "test_f1_macro": ("test macro-F1", "{:.4f}"),
    "train_time_s": ("train time (s)", "{:.1f}"),
    "best_epoch": ("best epoch", "{:.2f}"),
    "epochs_to_convergence": ("epochs to converge", "{:.2f}"),
    "inference_ms_per_text": ("inference ms/text", "{:.3f}"),
    "trainable_params": ("trainable params", "{:,.0f}"),
    "total_params": ("total params", "{:,.0f}"),
}
# Fixed by the configuration, so a spread over seeds says nothing.
PARAM_COLUMNS = ("trainable_params", "total_params")
EPOCH_COLUMNS = ("best_epoch", "epochs_to_convergence")


@dataclass(frozen=True)
class PlannedRun:
    """One cell of a study's grid: the varied train.py flags (in --vary order) and the seed, if seeds vary."""

    values: tuple[tuple[str, str], ...]
    seed: int | None = None

    @property
    def name(self) -> str:
        """The run's folder name, e.g. `model_type-lstm_seed-1`."""
        parts = [f"{key}-{value}" for key, value in self.values]
        if self.seed is not None:
            parts.append(f"seed-{self.seed}")
        return _UNSAFE.sub("-", "_".join(parts)) or "run"

    @property
    def label(self) -> str:
        """The configuration without the seed, e.g. `model_type=lstm`: runs that differ only in seed share it."""
        return " ".join(f"{key}={value}" for key, value in self.values) or "all runs"

    def train_arguments(self) -> list[str]:
        """The train.py flags that make this run differ from the others."""
        arguments = [token for key, value in self.values for token in (f"--{key}", value)]
        if self.seed is not None:
            arguments += ["--seed", str(self.seed)]
        return arguments


def parse_vary(spec: str) -> tuple[str, list[str]]:
    """
    `'model_type=lstm,gru'` -> `('model_type', ['lstm', 'gru'])`. Values that hold commas themselves (e.g.
    `config_overrides`) are separated by `;` instead: `'config_overrides=hidden_size=64,num_layers=1;hidden_size=128'`.
    """
    key, sep, text = spec.partition("=")
    key = key.strip().removeprefix("--")
    if not sep or not key:
        raise UserInputError(f"--vary {spec!r} is not KEY=V1,V2,...; write e.g. --vary model_type=lstm,gru")
    values = [value.strip() for value in text.split(";" if ";" in text else ",")]
    if not all(values):
        raise UserInputError(
            f"--vary {spec!r} has an empty value; separate the values by ',' (by ';' when they contain commas)"
        )
    repeated = sorted({value for value in values if values.count(value) > 1})
    if repeated:
        raise UserInputError(f"--vary {key} lists {', '.join(repeated)} more than once; give each value once")
    return key, values


def parse_seeds(text: str) -> list[int]:
    """`'1,2,3'` -> `[1, 2, 3]`."""
    try:
        seeds = [int(seed) for seed in text.split(",")]
    except ValueError:
        raise UserInputError(
            f"--seeds {text!r} is not a comma-separated list of integers, e.g. --seeds 1,2,3"
        ) from None
    if len(set(seeds)) != len(seeds):
        raise UserInputError(f"--seeds {text!r} repeats a seed; give each seed once")
    return seeds


def plan_runs(vary: Sequence[tuple[str, Sequence[str]]], seeds: Sequence[int] | None = None) -> list[PlannedRun]:
    """
    Every combination of the varied values (the first key changing slowest) and, innermost, of the seeds, so the
    runs of one configuration follow each other.
    """
    keys = [key for key, _ in vary]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise UserInputError(
            f"--vary {', '.join(repeated)} is given more than once; list all its values in one --vary"
        )
    runs = [
        PlannedRun(tuple(zip(keys, combination)), seed)
        for combination in itertools.product(*(values for _, values in vary))
        for seed in (seeds or [None])
    ]
    names = [run.name for run in runs]
    clashing = sorted({name for name in names if names.count(name) > 1})
    if clashing:
        raise UserInputError(
            f"several runs would share the folder {clashing[0]!r}; make the --vary values differ in more than "
            "spaces or path separators"
        )
    return runs


def check_vary(vary: Sequence[tuple[str, Sequence[str]]], accepted: Mapping[str, Sequence[str] | None]) -> None:
    """
    Refuse a varied key that train.py does not accept, or a value outside its choices. `accepted` maps each
    train.py flag name (without dashes) to its choices, or None where any value goes.
    """
    for key, values in vary:
        if key in RESERVED_FLAGS:
            raise UserInputError(f"--vary {key}: {RESERVED_FLAGS[key]}")
        if key not in accepted:
            names = sorted(name for name in accepted if "-" not in name and name != "help")
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserInputError(f"--vary {key}: train.py has no flag --{key}{hint}; it accepts: {', '.join(names)}")
        choices = accepted[key]
        unknown = [value for value in values if choices and value not in choices]
        if unknown:
            raise UserInputError(
                f"--vary {key}: {', '.join(unknown)} not among train.py's choices {', '.join(choices)}"
            )


def parse_flags(arguments: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """
    The flags of a command line and their values, however written: `--eval-strategy epoch` and
    `--eval_strategy=epoch` both as `{'eval_strategy': ('epoch',)}`, a bare flag as `()`, the last of a repeated
    flag winning (as in argparse). Tokens before the first flag (an interpreter, a script) are left out.
    """
    flags: dict[str, tuple[str, ...]] = {}
    name = None
    for token in arguments:
        if token.startswith("--") and len(token) > 2:
            flag, sep, inline = token[2:].partition("=")
            name = flag.replace("-", "_")
            flags[name] = (inline,) if sep else ()
        elif name is not None:
            flags[name] += (token,)  # a value, or one more of a flag that takes several
    return flags


def flag_names(arguments: Iterable[str]) -> set[str]:
    """The flags named in a command line, `--eval-strategy` and `--eval_strategy=epoch` both as `eval_strategy`."""
    return set(parse_flags(arguments))


def flag_value(arguments: Sequence[str], name: str) -> str | None:
    """The value the command line gives `--name` (the last one wins, as in argparse), or None."""
    values = parse_flags(arguments).get(name)
    if values is None:
        return None
    return values[0] if values else "true"  # a bare boolean flag


def check_fixed_arguments(
    train_arguments: Sequence[str], vary: Sequence[tuple[str, Sequence[str]]], seeds: Sequence[int] | None
) -> None:
    """Refuse train.py arguments that clash with what the study sets for each run."""
    given = flag_names(train_arguments)
    for key, _ in vary:
        if key in given:
            raise UserInputError(f"--{key} is both varied and given after '--'; drop it from the train.py arguments")
    if seeds and "seed" in given:
        raise UserInputError("--seed is given after '--' as well as --seeds; drop it from the train.py arguments")
    if "output_dir" in given:
        raise UserInputError("give --output_dir before '--': the study puts each run in its own folder under it")


def read_results(run_dir: str | Path) -> dict | None:
    """A run's `all_results.json`, or None where the run has not finished (no file, or no test metrics yet)."""
    path = Path(run_dir) / RESULTS_FILE
    if not path.is_file():
        return None
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # written by a run that was killed mid-write
    return results if FINISHED_KEY in results else None


def is_finished(run_dir: str | Path) -> bool:
    """Whether a run folder holds the results of a run that got to the end."""
    return read_results(run_dir) is not None


def recorded_command(run_dir: str | Path) -> list[str] | None:
    """The command a run was started with, from the first line of its train.log; None where the log records none."""
    path = Path(run_dir) / LOG_FILE
    if not path.is_file():
        return None
    with path.open(encoding="utf-8", errors="replace") as log:
        first_line = log.readline().rstrip("\n")
    if not first_line.startswith(COMMAND_PREFIX):
        return None
    try:
        return shlex.split(first_line.removeprefix(COMMAND_PREFIX))
    except ValueError:
        return None  # an unclosed quote: the line does not hold the whole command


def read_log_history(run_dir: str | Path) -> tuple[list[dict], int | None]:
    """The Trainer's log history of a run and the step of its best checkpoint (None where not recorded)."""
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        return [], None
    state = json.loads(path.read_text())
    return state.get("log_history", []), state.get("best_global_step")


def validation_curves(log_history: Sequence[dict]) -> pd.DataFrame:
    """One row per evaluation on the validation split, in training order: `epoch`, `step` and the `eval_*` metrics."""
    rows = [entry for entry in log_history if "eval_loss" in entry]
    if not rows:
        return pd.DataFrame(columns=["epoch", "step", "eval_loss", "eval_f1_macro"])
    # An evaluation after training (of the best model, at the last step) must not pass for one more epoch.
    return pd.DataFrame(rows).drop_duplicates("step", keep="first").sort_values("step").reset_index(drop=True)


def read_curves(run_dir: str | Path) -> pd.DataFrame:
    """The validation curves of a run folder (see `validation_curves`)."""
    return validation_curves(read_log_history(run_dir)[0])


def best_epoch(
    curves: pd.DataFrame,
    best_step: int | None = None,
    metric: str = "eval_f1_macro",
    greater_is_better: bool | None = None,
) -> float:
    """
    The epoch of the best evaluation: the one at the Trainer's best step where it recorded one, else the best by
    `metric` (larger is better unless the name ends in 'loss', as in TrainingArguments).
    """
    if best_step is not None and "step" in curves:
        at_step = curves.loc[curves["step"] == best_step, "epoch"]
        if len(at_step):
            return float(at_step.iloc[0])
    if metric not in curves or curves[metric].isna().all():
        return math.nan
    if greater_is_better is None:
        greater_is_better = not metric.endswith("loss")
    index = curves[metric].idxmax() if greater_is_better else curves[metric].idxmin()
    return float(curves.loc[index, "epoch"])


def epochs_to_convergence(curves: pd.DataFrame, tolerance: float = 0.01, metric: str = "eval_f1_macro") -> float:
    """The first epoch whose validation `metric` comes within `tolerance` of the run's best."""
    if metric not in curves or curves[metric].isna().all():
        return math.nan
    close = curves[curves[metric] >= curves[metric].max() - tolerance]
    return float(close["epoch"].iloc[0])


def count_test_examples(run_dir: str | Path, results: Mapping) -> int | None:
    """How many texts the test split had: the rows of the predictions file, else runtime times throughput."""
    path = Path(run_dir) / PREDICTIONS_FILE
    if path.is_file():
        return len(pd.read_csv(path, usecols=["label"]))
    if results.get("test_runtime") and results.get("test_samples_per_second"):
        return round(results["test_runtime"] * results["test_samples_per_second"])
    return None


def collect_run(
    run_dir: str | Path,
    metric: str = "eval_f1_macro",
    greater_is_better: bool | None = None,
    tolerance: float = 0.01,
) -> dict[str, float]:
    """
    The figures of one finished run (the keys of METRIC_COLUMNS). `metric` picks the best epoch where the run's
    trainer_state.json does not record the best step; `tolerance` is the macro-F1 gap that counts as converged.
    """
    results = read_results(run_dir)
    if results is None:
        raise FileNotFoundError(
            f"{Path(run_dir) / RESULTS_FILE} is missing or has no test metrics: the run did not finish"
        )
    log_history, best_step = read_log_history(run_dir)
    curves = validation_curves(log_history)
    n_test = count_test_examples(run_dir, results)
    test_runtime = results.get("test_runtime")
    return {
        "val_accuracy": results.get("eval_accuracy", math.nan),
        "test_accuracy": results.get("test_accuracy", math.nan),
        "test_f1_macro": results.get("test_f1_macro", math.nan),
        "train_time_s": results.get("train_runtime", math.nan),
        "best_epoch": best_epoch(curves, best_step, metric, greater_is_better),
        "epochs_to_convergence": epochs_to_convergence(curves, tolerance),
        "inference_ms_per_text": test_runtime / n_test * 1000 if n_test and test_runtime is not None else math.nan,
        "trainable_params": results.get("trainable_params", math.nan),
        "total_params": results.get("total_params", math.nan),
    }


def collect_study(
    study_dir: str | Path,
    runs: Sequence[PlannedRun],
    metric: str = "eval_f1_macro",
    greater_is_better: bool | None = None,
    tolerance: float = 0.01,
    failed: Iterable[str] = (),
) -> pd.DataFrame:
    """
    One row per run: the varied values, `seed` (where seeds vary), `run` (its folder), `status` ('ok' or
    'failed'), `log` (relative to `study_dir`) and the METRIC_COLUMNS figures (NaN for a failed run). A run counts
    as failed when it is named in `failed` or its folder holds no finished results.
    """
    study_dir = Path(study_dir)
    failed = set(failed)
    with_seed = any(run.seed is not None for run in runs)
    rows = []
    for run in runs:
        run_dir = study_dir / run.name
        ok = run.name not in failed and is_finished(run_dir)
        row = dict(run.values)
        if with_seed:
            row["seed"] = run.seed
        row.update(run=run.name, status="ok" if ok else "failed", log=f"{run.name}/{LOG_FILE}")
        if ok:
            row.update(collect_run(run_dir, metric, greater_is_better, tolerance))
        else:
            row.update(dict.fromkeys(METRIC_COLUMNS, math.nan))
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(per_run: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """
    One row per configuration (the `keys` values, in run order): `runs`, `finished`, `failed_logs`, and for every
    METRIC_COLUMNS figure its mean over the finished runs and `<figure>_std` (NaN with fewer than two).
    """
    keys = list(keys)
    groups = per_run.groupby(keys, sort=False) if keys else [((), per_run)]
    rows = []
    for values, group in groups:
        finished = group[group["status"] == "ok"]
        row = dict(zip(keys, values))
        row.update(
            runs=len(group), finished=len(finished), failed_logs=list(group.loc[group["status"] != "ok", "log"])
        )
        for column in METRIC_COLUMNS:
            figures = pd.to_numeric(finished[column])
            row[column] = figures.mean()
            row[f"{column}_std"] = figures.std()
        rows.append(row)
    return pd.DataFrame(rows)


def csv_table(per_run: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """
    The rows of comparison.csv: the per-run rows, and where seeds vary, after each configuration's runs a row
    with seed 'mean' and one with seed 'std' (their status says how many runs finished).
    """
    if "seed" not in per_run:
        table = per_run.copy()
    else:
        summary = summarize(per_run, keys)
        pieces = []
        for _, row in summary.iterrows():
            selector = pd.Series(True, index=per_run.index)
            for key in keys:
                selector &= per_run[key] == row[key]
            aggregate = {key: row[key] for key in keys}
            aggregate.update(run="", status=f"{row['finished']}/{row['runs']} ok", log="; ".join(row["failed_logs"]))
            mean = {**aggregate, "seed": "mean", **{column: row[column] for column in METRIC_COLUMNS}}
            std = {**aggregate, "seed": "std", **{column: row[f"{column}_std"] for column in METRIC_COLUMNS}}
            pieces += [per_run[selector], pd.DataFrame([mean, std])]
        table = pd.concat(pieces, ignore_index=True)[list(per_run.columns)]
    for column in METRIC_COLUMNS:
        table[column] = pd.to_numeric(table[column]).round(0 if column in PARAM_COLUMNS else 6)
    for column in PARAM_COLUMNS:
        table[column] = table[column].astype("Int64")  # counts, not 1.2e+08
    return table


def write_csv(path: str | Path, per_run: pd.DataFrame, keys: Sequence[str]) -> None:
    """Write comparison.csv (see `csv_table`)."""
    csv_table(per_run, keys).to_csv(path, index=False)


def _format(column: str, value: float) -> str:
    if pd.isna(value):
        return "-"
    text = METRIC_COLUMNS[column][1].format(value)
    # Whole epochs read better as "3" than "3.00".
    return text.rstrip("0").rstrip(".") if column in EPOCH_COLUMNS else text


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def markdown_table(per_run: pd.DataFrame, keys: Sequence[str], metric: str = "eval_f1_macro") -> str:
    """
    The comparison as a markdown table, one row per configuration; with several seeds each figure reads
    'mean ± std' and a `runs` column says how many finished. Failed runs are named with a link to their log.
    """
    keys = list(keys)
    with_seed = "seed" in per_run
    summary = summarize(per_run, keys)
    headers = [*keys, *(["runs"] if with_seed else [])]
    for column, (header, _) in METRIC_COLUMNS.items():
        headers.append(f"{header} ({metric})" if column == "best_epoch" else header)
    headers.append("status")
    lines = ["| " + " | ".join(map(_escape, headers)) + " |", "|" + "---|" * len(headers)]
    for _, row in summary.iterrows():
        cells = [str(row[key]) for key in keys]
        if with_seed:
            cells.append(f"{row['finished']}/{row['runs']}")
        for column in METRIC_COLUMNS:
            cell = _format(column, row[column])
            if with_seed and column not in PARAM_COLUMNS and not pd.isna(row[f"{column}_std"]):
                cell += f" ± {_format(column, row[f'{column}_std'])}"
            cells.append(cell)
        logs = ", ".join(f"[{log}]({log})" for log in row["failed_logs"])
        if not logs:
            cells.append("ok")
        elif with_seed:
            cells.append(f"{len(row['failed_logs'])} of {row['runs']} failed: {logs}")
        else:
            cells.append(f"failed: {logs}")
        lines.append("| " + " | ".join(map(_escape, cells)) + " |")
    return "\n".join(lines)


def write_markdown(
    path: str | Path,
    per_run: pd.DataFrame,
    keys: Sequence[str],
    command: str,
    metric: str = "eval_f1_macro",
    tolerance: float = 0.01,
) -> None:
    """Write comparison.md: the command that produced the study, the table and what its columns mean."""
    seeds = "seed" in per_run
    notes = [
        f"Best epoch: the checkpoint the run kept (by {metric}). Epochs to converge: the first epoch whose "
        f"validation macro-F1 is within {tolerance:g} of the run's best. Inference: test runtime / test texts.",
    ]
    if seeds:
        notes.append("Figures are mean ± std over the seeds whose run finished; comparison.csv has every run.")
    text = "\n".join(
        [
            "# Study comparison",
            "",
            "```bash",
            command,
            "```",
            "",
            markdown_table(per_run, keys, metric),
            "",
            *notes,
            "",
        ]
    )
    Path(path).write_text(text, encoding="utf-8")


def plot_curves(path: str | Path, curves: Sequence[tuple[str, pd.DataFrame]]) -> None:
    """
    Validation macro-F1 and validation loss per epoch of every run, overlaid; `curves` pairs each run's
    configuration label with its `validation_curves`. Runs of one configuration (several seeds) share a colour
    and a legend entry.
    """
    figure = Figure(figsize=(12, 4.5), layout="constrained")
    f1_axes, loss_axes = figure.subplots(1, 2)
    styles: dict[str, dict] = {}
    for label, frame in curves:
        if frame.empty:
            continue
        first = label not in styles
        if first:
            index = len(styles)
            # Ten colours, then the same colours dashed, dotted...: configurations stay apart beyond ten.
            styles[label] = {"color": f"C{index % 10}", "linestyle": ("-", "--", ":", "-.")[index // 10 % 4]}
        style = {**styles[label], "marker": "o", "markersize": 3, "label": label if first else "_nolegend_"}
        f1_axes.plot(frame["epoch"], frame["eval_f1_macro"], **style)
        loss_axes.plot(frame["epoch"], frame["eval_loss"], **style)
    for axes, name in ((f1_axes, "validation macro-F1"), (loss_axes, "validation loss")):
        axes.set_title(name)
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if styles:
        figure.legend(*f1_axes.get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    else:
        f1_axes.text(0.5, 0.5, "no finished run", ha="center", va="center", transform=f1_axes.transAxes)
    figure.savefig(path, dpi=120)
