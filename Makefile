# The commands README gives. `make test` and `make demo` set up .venv first (once; again when setup.cfg changes).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1

# torch for this venv. A CPU build is small and quick to install: where pip's find-links (a local wheelhouse) holds
# one, it is taken; elsewhere pip's default applies. Set TORCH_SPEC to choose, e.g. TORCH_SPEC='torch==2.5.1'.
FIND_LINKS := $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
TORCH_SPEC ?= $(or $(lastword $(sort $(wildcard $(addsuffix /torch-*+cpu-*.whl,$(FIND_LINKS))))),torch)

.PHONY: setup demo train-full test test-slow check-wheel kill-resume quality style clean

setup: $(VENV)/.installed

$(VENV)/.installed: setup.cfg setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

# A short run of the main job, to see every output: the attention BiLSTM on 4,000 bundled tweets for 2 epochs.
demo: setup
	@echo "demo: attention BiLSTM on 4,000 bundled tweets, 2 epochs (about 2 minutes on 2 cores) -> outputs/demo"
	$(BIN)/python scripts/train.py --model_type attn_bilstm --dataset tweet_sentiment \
		--max_train_samples 4000 --num_train_epochs 2 --output_dir outputs/demo --overwrite_output_dir

# The real run: the attention BiLSTM on all 29,785 bundled tweets, until validation macro-F1 stops improving.
train-full: setup
	$(BIN)/python scripts/train.py --model_type attn_bilstm --dataset tweet_sentiment \
		--output_dir outputs/attn_bilstm-tweet_sentiment --overwrite_output_dir

# One worker per core; each test file stays on one worker, so its module fixtures are built once.
test: setup
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# The tests marked slow: the real pretrained MiniLM and the reference programs of ../shared, and long runs.
test-slow: setup
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m slow

# A wheel built from this repository, installed into a fresh venv outside it: every data config and the bundled data
# are found, and scripts/train.py runs against that install.
check-wheel: setup
	$(BIN)/python -m pytest -q -m "slow or not slow" tests/test_packaging.py

# Kill train.py with SIGKILL at 10 seeded moments (tokenisation, training, checkpoint saving, final save, model card),
# resume or rerun each, and check every folder's test metrics equal an uninterrupted run's (about 10 minutes).
kill-resume: setup
	$(BIN)/python tests/kill_resume_loop.py --rounds 10 --seed 0

quality: setup
	$(BIN)/ruff check modeling scripts tests
	$(BIN)/ruff format --check modeling scripts tests

style: setup
	$(BIN)/ruff check --fix modeling scripts tests
	$(BIN)/ruff format modeling scripts tests

clean:
	rm -rf outputs .pytest_cache
