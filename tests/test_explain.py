"""Integrated gradients for every model type: completeness, the heatmaps and token scores of scripts/predict.py."""

import json
import sys

import numpy as np
import pytest
import torch
from conftest import load_script
from PIL import Image
from test_export import MAX_LENGTH, MODEL_TYPES, TEXTS, make_model_folder
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from modeling.data import encode_texts
from modeling.explain import COMPLETENESS_TOLERANCE, DEFAULT_STEPS, baseline_ids, integrated_gradients

pytest.importorskip("captum")


def run_main(name: str, *args) -> object:
    module = load_script(name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", [f"{name}.py", *map(str, args)])
        return module.main()


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, bert_tokenizer_dir):
    made = {}

    def make(model_type: str):
        if model_type not in made:
            made[model_type] = make_model_folder(tmp_path_factory.mktemp(model_type), model_type, bert_tokenizer_dir)
        return made[model_type]

    return make


@pytest.mark.parametrize(
    "model_type, baseline", [(model_type, "pad") for model_type in MODEL_TYPES] + [("lstm", "unk"), ("bert", "unk")]
)
def test_attributions_add_up_to_the_logit_difference(model_folder, model_type, baseline):
    folder = model_folder(model_type)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = torch.tensor([encode_texts(tokenizer, [TEXTS[1]], MAX_LENGTH)["input_ids"][0]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits[0]
    target = int(logits.argmax())
    # At the default steps, without the doubling that makes up for a miss.
    attribution = integrated_gradients(model, ids, mask, target, tokenizer, DEFAULT_STEPS, baseline, max_doublings=0)
    assert attribution.scores.shape == (ids.shape[1],)
    assert attribution.logit == pytest.approx(float(logits[target]), abs=1e-5)
    difference = attribution.logit - attribution.baseline_logit
    assert abs(difference) > 0.05  # the text and the baseline are far apart: the check below is not trivial
    assert abs(attribution.scores.sum() - difference) <= COMPLETENESS_TOLERANCE * abs(difference)
    assert attribution.completeness_error <= COMPLETENESS_TOLERANCE
    assert np.count_nonzero(np.abs(attribution.scores) > 1e-4) >= ids.shape[1] // 2  # spread over the tokens
    if model_type in ("bert", "distilbert"):  # [CLS] and [SEP] are the same in the baseline: nothing to attribute
        assert attribution.scores[0] == pytest.approx(0.0, abs=1e-6)
        assert attribution.scores[-1] == pytest.approx(0.0, abs=1e-6)


def test_a_miss_is_explained_again_with_more_steps(model_folder):
    folder = model_folder("distilbert")
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = torch.tensor([encode_texts(tokenizer, [TEXTS[1]], MAX_LENGTH)["input_ids"][0]])
    mask = torch.ones_like(ids)
    coarse = integrated_gradients(model, ids, mask, 0, tokenizer, steps=1, max_doublings=0)
    assert not coarse.complete and coarse.steps == 1  # one point on the path is not enough
    refined = integrated_gradients(model, ids, mask, 0, tokenizer, steps=1, max_doublings=6)
    assert refined.complete and 1 < refined.steps <= 64 and refined.completeness_error < coarse.completeness_error


def test_baseline_keeps_cls_and_sep_only(bert_tokenizer_dir):
    tokenizer = AutoTokenizer.from_pretrained(bert_tokenizer_dir)
    ids = torch.tensor([tokenizer("good day")["input_ids"]])  # [CLS] good day [SEP]
    pad, unk = tokenizer.pad_token_id, tokenizer.unk_token_id
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert baseline_ids(ids, tokenizer, "pad")[0].tolist() == [cls, *[pad] * (ids.shape[1] - 2), sep]
    assert baseline_ids(ids, tokenizer, "unk")[0].tolist() == [cls, *[unk] * (ids.shape[1] - 2), sep]


@pytest.mark.parametrize("model_type", ["gru", "distilbert"])
def test_predict_explains_with_integrated_gradients(model_folder, model_type, tmp_path, capsys):
    folder = model_folder(model_type)
    texts = [TEXTS[0], TEXTS[3]]  # the second is longer than the cut
    method = [] if model_type == "gru" else ["--method", "integrated_gradients"]  # the default for a GRU
    results = run_main(
        "predict", "--model", folder, "--explain", *method, "--json", "--output_dir", tmp_path,
        *texts,
    )  # fmt: skip
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == results
    tokenizer = AutoTokenizer.from_pretrained(folder)
    for i, (result, text) in enumerate(zip(results, texts), start=1):
        path = tmp_path / f"integrated_gradients_00{i}.png"
        assert result["integrated_gradients_plot"] == str(path)
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 100
        # The tokens drawn and scored are those the model read: the cut text, without [CLS] and [SEP].
        read = encode_texts(tokenizer, [text], MAX_LENGTH, "head_tail")["input_ids"][0]
        shown = [i for i in read if i not in (tokenizer.cls_token_id, tokenizer.sep_token_id)]
        assert [token for token, _ in result["token_scores"]] == tokenizer.convert_ids_to_tokens(shown)
        # Completeness; relative to at least 0.2, as a difference near 0 leaves only rounding to compare.
        total, difference = sum(score for _, score in result["token_scores"]), result["logit_difference_from_baseline"]
        assert abs(total - difference) <= COMPLETENESS_TOLERANCE * max(abs(difference), 0.2)
        assert result["ig_steps"] >= DEFAULT_STEPS
    assert len(results[1]["token_scores"]) >= MAX_LENGTH - 2 and len(tokenizer(texts[1])["input_ids"]) > MAX_LENGTH
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"integrated_gradients_00{i}.png" for i in (1, 2)]


def test_attention_stays_the_default_for_attn_bilstm(model_folder, tmp_path):
    folder = model_folder("attn_bilstm")
    results = run_main("predict", "--model", folder, "--explain", "--output_dir", tmp_path, "good")
    assert "attention_plot" in results[0] and "integrated_gradients_plot" not in results[0]
    weights = [score for _, score in results[0]["token_scores"]]
    assert sum(weights) == pytest.approx(1.0, abs=1e-5)  # attention over time is a distribution


def test_predict_help_explains_the_explanation_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_main("predict", "--help")
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--method", "--ig_steps", "--ig_baseline", "--backend"):
        assert flag in out
    assert f"default {DEFAULT_STEPS}" in out and "by more than 5% is explained again" in " ".join(out.split())
