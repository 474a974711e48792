"""The package as users install it: a wheel built from this repository, installed into a fresh virtual environment
outside it, finds every dataset config and the bundled data, and scripts/train.py runs against that install.
`make check-wheel` runs them all."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import REPO, tiny_overrides

# What a wheel is built from (setup.cfg and setup.py list what goes into it).
SOURCES = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "modeling", "data_configs")

# Run by the fresh environment's Python: where `modeling` and its data configs come from, and every config loaded.
CHECK_INSTALL = textwrap.dedent(
    """
    import importlib.resources, json
    import modeling
    from modeling.data import DATA_CONFIG_DIR, available_datasets, load_data_config

    def walk(folder, prefix=""):
        for entry in folder.iterdir():
            if entry.is_dir():
                yield from walk(entry, f"{prefix}{entry.name}/")
            else:
                yield prefix + entry.name

    packaged = importlib.resources.files("modeling") / "data_configs"
    print(json.dumps({
        "modeling": modeling.__file__,
        "config_dir": str(DATA_CONFIG_DIR),
        "files": sorted(walk(packaged)),
        "datasets": available_datasets(),
        "loaded": [load_data_config(name).name for name in available_datasets()],
    }))
    """
)


def repository_files(folder: Path) -> list[str]:
    files = [path for path in folder.rglob("*") if path.is_file() and "__pycache__" not in path.parts]
    return sorted(str(path.relative_to(folder)) for path in files)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """A wheel of this repository installed with --no-deps into a fresh venv; the dependencies come from this one."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy, so the build leaves no build/ or egg-info in the repository
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", root / "dist", source],
        check=True,
        capture_output=True,
    )
    (wheel,) = (root / "dist").glob("*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [*pip, "--python", python, "install", "--no-deps", "--no-index", "-q", wheel], check=True, capture_output=True
    )
    # Only the dependencies' folder on the path: no .pth file there is read, so this checkout's editable install
    # (if any) stays out, and the source tree is not on the path either.
    dependencies = Path(torch.__file__).resolve().parent.parent
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(dependencies),
        "HOME": str(root),
        "HF_HOME": str(root / "hf"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    return {"root": root, "python": python, "venv": venv, "env": env}


def test_a_wheel_installs_every_data_config_and_the_bundled_data(installed):
    result = subprocess.run(
        [installed["python"], "-c", CHECK_INSTALL],
        cwd=installed["root"],
        env=installed["env"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout)
    venv = str(installed["venv"])
    assert found["modeling"].startswith(venv) and found["config_dir"].startswith(venv)  # not this checkout's
    assert found["files"] == repository_files(REPO / "data_configs")
    names = sorted(path.stem for path in (REPO / "data_configs").glob("*.yaml"))
    assert found["datasets"] == names and len(found["loaded"]) == len(names)


@pytest.mark.slow  # a real run on the bundled tweets: about 12 s on 2 cores
def test_train_py_from_the_source_tree_runs_against_the_installed_wheel(installed):
    output_dir = installed["root"] / "run"
    result = subprocess.run(
        [
            installed["python"],
            REPO / "scripts" / "train.py",
            "--model_type",
            "lstm",
            "--config_overrides",
            tiny_overrides("lstm"),
            "--dataset",
            "tweet_sentiment",
            "--max_train_samples",
            "200",
            "--max_eval_samples",
            "50",
            "--max_test_samples",
            "50",
            "--num_train_epochs",
            "1",
            "--output_dir",
            output_dir,
            "--disable_tqdm",
            "true",
        ],  # fmt: skip
        cwd=installed["root"],
        env=installed["env"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((output_dir / "all_results.json").read_text())
    assert results["test_samples"] == 50 and 0 <= results["test_accuracy"] <= 1
    assert json.loads((output_dir / "config.json").read_text())["id2label"] == {
        "0": "negative",
        "1": "neutral",
        "2": "positive",
    }
