"""scripts/benchmark.py and scripts/run_profiled.py: both sides run, and every figure is read and compared right."""

import argparse
import json
import subprocess
import sys

import pytest
import torch
from conftest import REPO, TINY_RNN_OVERRIDES, load_script

PEERS = REPO.parent / "shared" / "peers"


def run_profiled(tmp_path, source: str, *args: str, env: dict | None = None) -> tuple[int, dict]:
    script = tmp_path / "program.py"
    script.write_text(source)
    report = tmp_path / "report.json"
    completed = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "run_profiled.py"), str(report), str(script), *args],
        capture_output=True,
        text=True,
        env=env,
    )
    return completed.returncode, json.loads(report.read_text())


def test_run_profiled_passes_arguments_and_reports_exit_status_and_time(tmp_path):
    source = "import sys, time\ntime.sleep(0.3)\nprint(sys.argv)\nsys.exit(int(sys.argv[1]))\n"
    code, report = run_profiled(tmp_path, source, "3")
    assert code == 3 and report["exit_code"] == 3
    assert report["wall_s"] >= 0.3
    assert report["peak_rss_mb"] > 10  # an interpreter alone holds more than this
    assert (report["gpu_peak_mb"] is None) == (not torch.cuda.is_available())  # a figure exactly where a GPU is


def test_run_profiled_reports_a_crash(tmp_path):
    code, report = run_profiled(tmp_path, "raise RuntimeError('boom')\n")
    assert code == 1 and report["exit_code"] == 1


def test_timing_inputs_of_the_reference_programs(tiny_transformer_dir):
    """Inputs are built as each program builds its single texts: fixed max_len, or padded to 128 (or not at all)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    profiled = load_script("run_profiled")
    seed_model = torch.nn.Embedding(10, 2)
    seed = {"m": seed_model, "Xte": torch.randint(0, 10, (150, 64)), "dev": "cpu"}
    model, singles, batches = profiled.seed_bilstm_inputs(seed, 64, 220, 20)
    assert model is seed_model and [tuple(b.shape) for b in batches] == [(64, 64), (64, 64), (22, 64)]
    assert len(singles) == 220 and singles[0].shape == (1, 64)
    assert torch.equal(singles[150], seed["Xte"][:1])  # past the end it starts again, as the program does
    _, _, batches = profiled.seed_bilstm_inputs(seed, 64, 220, 2)
    assert len(batches) == 2

    folder = tiny_transformer_dir("bert")
    recipe = {
        "model": AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3),
        "tok": AutoTokenizer.from_pretrained(folder),
        "te": [{"text": f"text number {i}"} for i in range(100)],
        "a": argparse.Namespace(pad="max"),
    }
    forward, singles, batches = profiled.hf_recipe_inputs(recipe, 64, 220, 20)
    assert [tuple(b["input_ids"].shape) for b in batches] == [(64, 128), (36, 128)]
    assert len(singles) == 220 and singles[0]["input_ids"].shape == (1, 128)
    assert forward(singles[0]).logits.shape == (1, 3)
    _, _, batches = profiled.hf_recipe_inputs(recipe, 64, 220, 1)
    assert len(batches) == 1
    recipe["a"].pad = "dynamic"
    _, singles, batches = profiled.hf_recipe_inputs(recipe, 64, 220, 20)
    assert batches[0]["input_ids"].shape == (64, 5)  # [CLS] text number i [SEP]
    assert singles[0]["input_ids"].shape == (1, 5)


def test_two_models_are_timed_in_turns_after_warming_up_both():
    from modeling.timing import alternating_latencies_ms

    calls = []
    first = (lambda x: calls.append(("a", x)), list(range(7)))
    second = (lambda x: calls.append(("b", x)), list(range(100, 105)))
    timings = alternating_latencies_ms([first, second], warmup=2, block=2)
    assert [len(t) for t in timings] == [5, 3]
    assert calls == [
        ("a", 0), ("a", 1), ("b", 100), ("b", 101),  # warm-up, untimed
        ("a", 2), ("a", 3), ("b", 102), ("b", 103), ("a", 4), ("a", 5), ("b", 104), ("a", 6),
    ]  # fmt: skip
    assert all(t >= 0 for side in timings for t in side)
    calls.clear()
    timings = alternating_latencies_ms([first, (second[0], [100])], warmup=2, block=2)
    assert [len(t) for t in timings] == [5, 1]  # too few inputs to set any apart: warmed up on, then timed
    assert calls[:3] == [("a", 0), ("a", 1), ("b", 100)] and calls.count(("b", 100)) == 2


@pytest.mark.slow  # runs the reference programs of ../shared/peers
def test_benchmark_runs_both_sides_and_compares_them(tmp_path, toy_data_dir):
    data_root = tmp_path / "datasets"
    data_root.mkdir()
    (data_root / "tweet_sentiment").symlink_to(toy_data_dir)
    output_dir = tmp_path / "bench"
    completed = subprocess.run(
        [
            sys.executable, str(REPO / "scripts" / "benchmark.py"), "--comparisons", "bilstm-tweet_sentiment",
            "--data_root", str(data_root), "--epochs", "1", "--limit", "120", "--output_dir", str(output_dir),
            "--project_args", f"--config_overrides {TINY_RNN_OVERRIDES} --per_device_train_batch_size 16",
        ],
        capture_output=True, text=True,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads((output_dir / "benchmark.json").read_text())
    result = summary["results"]["bilstm-tweet_sentiment"]
    peer, project, versus = result["peer"], result["project"], result["project_vs_peer"]
    assert peer["program"] == "seed_bilstm.py" and project["program"] == "scripts/train.py"
    assert peer["epochs"] == project["epochs"] == 1
    for side in (peer, project):
        assert 0 <= side["test_accuracy"] <= 1
        for key in ("train_samples_per_s", "latency_ms_b1", "latency_ms_b64", "peak_memory_mb", "wall_s"):
            assert side[key] > 0, key
    assert peer["latency_ms_b1_self_reported"] > 0  # the program's own figure, beside the one timed in turns
    assert versus["latency_ms_b1"] == pytest.approx(project["latency_ms_b1"] / peer["latency_ms_b1"])
    assert versus["train_samples_per_s"] == pytest.approx(project["train_samples_per_s"] / peer["train_samples_per_s"])
    assert versus["test_accuracy"] == pytest.approx(project["test_accuracy"] - peer["test_accuracy"])
    # The project's figures are its run's: accuracy as train.py wrote it.
    results = json.loads((output_dir / "project-bilstm-tweet_sentiment" / "all_results.json").read_text())
    assert project["test_accuracy"] == results["test_accuracy"]
    table = (output_dir / "benchmark.md").read_text()
    assert "| bilstm-tweet_sentiment | seed_bilstm.py | 1 |" in table and "project vs reference" in table
    assert summary["machine"]["torch"] == torch.__version__


def test_benchmark_refuses_an_unknown_comparison(run_script, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_script("benchmark", "--comparisons", "lstm-everything")
    assert exit_info.value.code == 2
    assert "unknown comparison 'lstm-everything'; choose from: bilstm-tweet_sentiment" in capsys.readouterr().err


def test_project_runs_always_fix_their_epochs(tmp_path, monkeypatch):
    """Without --epochs, the project's run still passes --num_train_epochs: no early stopping in a timed comparison."""
    benchmark = load_script("benchmark")
    given = {}

    def fake_run_program(script, script_args, log_path, **kwargs):
        given["args"] = script_args
        return {"exit_code": 1}

    monkeypatch.setattr(benchmark, "run_program", fake_run_program)
    for epochs, expected in ((None, "4"), (2.0, "2")):
        args = argparse.Namespace(epochs=epochs, limit=None, project_args="", model_dir=tmp_path, data_root=tmp_path)
        with pytest.raises(RuntimeError, match="exited with status 1"):
            benchmark.run_project("bilstm-tweet_sentiment", args, tmp_path / "log", tmp_path / "out")
        flags = given["args"]
        assert flags[flags.index("--num_train_epochs") + 1] == expected
    assert benchmark.COLUMNS["epochs"][0] == "epochs (fixed)"
