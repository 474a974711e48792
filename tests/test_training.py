"""Fine-tuning strategies, layer-wise learning rates, optimizer choice, the class-weighted loss and adversarial
training."""

import json
from pathlib import Path

import pytest
import torch
from conftest import TINY_RNN_OVERRIDES
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, TrainingArguments
from transformers.trainer_pt_utils import LengthGroupedSampler

import modeling
from modeling.errors import UserInputError
from modeling.training import (
    ShuffledLengthGroupedSampler,
    TextClassificationTrainer,
    apply_finetune_strategy,
    class_weighted_loss,
    count_parameters,
    layerwise_parameter_groups,
)


def transformer_args(model_dir, output_dir, data_dir, *extra):
    return [
        "--model_type", "bert", "--model_name_or_path", model_dir, "--dataset", "tweet_sentiment",
        "--data_dir", data_dir, "--output_dir", output_dir, "--num_train_epochs", "1",
        "--per_device_train_batch_size", "16", "--learning_rate", "1e-3", "--disable_tqdm", "true", *extra,
    ]  # fmt: skip


def weights(folder) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


@pytest.mark.parametrize("strategy, frozen_layers", [("freeze", 4), ("hybrid", 2), ("full", 0)])
def test_strategies_freeze_exactly_what_they_say(
    run_script, tmp_path, toy_data_dir, tiny_transformer_dir, strategy, frozen_layers
):
    checkpoint = tiny_transformer_dir("bert")
    before = {f"bert.{k}": v for k, v in weights(checkpoint).items()}
    output_dir = tmp_path / strategy
    run_script("train", *transformer_args(checkpoint, output_dir, toy_data_dir, "--finetune_strategy", strategy))
    after = weights(output_dir)
    results = json.loads((output_dir / "all_results.json").read_text())
    assert results["trainable_params"] < results["total_params"] or strategy == "full"
    recorded = json.loads((output_dir / "training_args.json").read_text())
    assert recorded["model_name_or_path"] == str(Path(checkpoint).resolve())  # what the model card names
    assert "fine-tuned from" in (output_dir / "README.md").read_text()
    for name, tensor in before.items():
        if name not in after:
            continue
        lower = "embeddings" in name or any(f"layer.{i}." in name for i in range(frozen_layers))
        frozen = strategy == "freeze" or (frozen_layers > 0 and lower)
        if frozen:
            assert torch.equal(after[name], tensor), f"{name} changed"
        elif name.endswith("weight") and "LayerNorm" not in name:
            assert not torch.equal(after[name], tensor), f"{name} did not train"
    assert not torch.equal(after["classifier.weight"], torch.zeros_like(after["classifier.weight"]))


# A LoRA run's folder (the merged model, the adapter beside it): tests/test_inference_loaders.py.


def test_merge_lora_is_refused_as_no_longer_needed(run_script, tmp_path, toy_data_dir, tiny_transformer_dir, capsys):
    args = transformer_args(tiny_transformer_dir("bert"), tmp_path / "x", toy_data_dir, "--finetune_strategy", "lora")
    with pytest.raises(SystemExit) as exit_info:
        run_script("train", *args, "--merge_lora")
    assert exit_info.value.code == 2
    assert "error: --merge_lora is no longer needed: a LoRA run always saves the merged" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_rnn_refuses_transformer_strategies(run_script, tmp_path, toy_data_dir):
    with pytest.raises(SystemExit) as exit_info:
        run_script(
            "train", "--model_type", "lstm", "--finetune_strategy", "hybrid", "--dataset", "tweet_sentiment",
            "--data_dir", toy_data_dir, "--output_dir", tmp_path / "x",
        )  # fmt: skip
    assert exit_info.value.code == 2


def make_trainer(model, tmp_path, **kwargs) -> TextClassificationTrainer:
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-3, weight_decay=0.01, report_to="none")
    return TextClassificationTrainer(model=model, args=args, **kwargs)


def tiny_bert(tiny_transformer_dir):
    return AutoModelForSequenceClassification.from_pretrained(tiny_transformer_dir("bert"), num_labels=3)


def test_layerwise_learning_rates_follow_the_decay(tmp_path, tiny_transformer_dir):
    trainer = make_trainer(tiny_bert(tiny_transformer_dir), tmp_path, layerwise_lr_decay=0.5)
    optimizer = trainer.create_optimizer()
    rates = {group["name"].replace(" (no decay)", ""): group["lr"] for group in optimizer.param_groups}
    assert rates["head"] == pytest.approx(1e-3)
    for layer in range(4):
        assert rates[f"layer {layer}"] == pytest.approx(1e-3 * 0.5 ** (3 - layer))
    assert rates["embeddings"] == pytest.approx(1e-3 * 0.5**4)
    grouped = sum(p.numel() for group in optimizer.param_groups for p in group["params"])
    assert grouped == count_parameters(trainer.model)[0]
    no_decay = [g for g in optimizer.param_groups if g["name"].endswith("(no decay)")]
    assert no_decay and all(g["weight_decay"] == 0.0 for g in no_decay)


def test_layerwise_groups_for_an_rnn_separate_embeddings_recurrent_and_head():
    config = modeling.AttnBiLSTMConfig(vocab_size=50, embedding_dim=8, hidden_size=4, attention_dim=4, num_labels=2)
    model = modeling.AttnBiLSTMForSequenceClassification(config)
    groups = {g["name"]: g["lr"] for g in layerwise_parameter_groups(model, 0.01, 0.0, 0.1)}
    assert groups == {"head": 0.01, "encoder": 0.01, "embeddings": pytest.approx(0.001)}


def test_layerwise_decay_out_of_range_is_refused():
    model = modeling.LSTMForSequenceClassification(modeling.LSTMConfig(vocab_size=10, num_labels=2))
    with pytest.raises(UserInputError, match="layerwise_lr_decay"):
        layerwise_parameter_groups(model, 0.01, 0.0, 1.5)


@pytest.mark.parametrize(
    "name, optimizer_class, expected",
    [
        ("sgd", torch.optim.SGD, {"momentum": 0.0}),
        ("sgd_momentum", torch.optim.SGD, {"momentum": 0.8}),
        ("rmsprop", torch.optim.RMSprop, {}),
        ("adam", torch.optim.Adam, {"betas": (0.9, 0.999)}),
        ("adamw", torch.optim.AdamW, {"betas": (0.9, 0.999), "fused": True}),
        (None, torch.optim.AdamW, {"fused": True}),  # the Trainer's default --optim
    ],
)
def test_each_optimizer_builds_what_it_names(tmp_path, name, optimizer_class, expected):
    model = modeling.LSTMForSequenceClassification(modeling.LSTMConfig(vocab_size=10, num_labels=2))
    optimizer = make_trainer(model, tmp_path, optimizer_name=name, momentum=0.8).create_optimizer()
    assert type(optimizer) is optimizer_class
    for key, value in expected.items():
        assert all(group[key] == value for group in optimizer.param_groups), key
    assert all(group["lr"] == pytest.approx(1e-3) for group in optimizer.param_groups)


def test_without_optimizer_the_trainers_optim_is_used(tmp_path):
    from transformers.optimization import Adafactor

    model = modeling.LSTMForSequenceClassification(modeling.LSTMConfig(vocab_size=10, num_labels=2))
    args = TrainingArguments(output_dir=str(tmp_path), optim="adafactor", learning_rate=1e-3, report_to="none")
    assert type(TextClassificationTrainer(model=model, args=args).create_optimizer()) is Adafactor


def test_strategy_helpers_refuse_bad_values(tiny_transformer_dir):
    with pytest.raises(UserInputError, match="strategy"):
        apply_finetune_strategy(tiny_bert(tiny_transformer_dir), "half")
    with pytest.raises(UserInputError, match="unfreeze_top_k"):
        apply_finetune_strategy(tiny_bert(tiny_transformer_dir), "hybrid", unfreeze_top_k=9)


def test_class_weighted_loss_matches_weighted_cross_entropy():
    loss, weights = class_weighted_loss([0, 0, 0, 1], num_labels=3)
    assert weights == pytest.approx([4 / (2 * 3), 4 / (2 * 1), 1.0])
    logits, labels = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    expected = torch.nn.functional.cross_entropy(logits, labels, weight=torch.tensor(weights, dtype=torch.float32))
    torch.testing.assert_close(loss({"logits": logits}, labels), expected)
    auxiliary = torch.tensor(0.25)
    torch.testing.assert_close(loss({"logits": logits, "auxiliary_loss": auxiliary}, labels), expected + auxiliary)
    # Counted over 8 examples (2 accumulated batches or processes): this batch's share of each part, the auxiliary
    # loss's included.
    summed = torch.nn.functional.cross_entropy(
        logits, labels, weight=torch.tensor(weights, dtype=torch.float32), reduction="sum"
    )
    torch.testing.assert_close(
        loss({"logits": logits, "auxiliary_loss": auxiliary}, labels, num_items_in_batch=8), (summed + 4 * 0.25) / 8
    )


def test_class_weighted_loss_smooths_labels_as_asked():
    loss, weights = class_weighted_loss([0, 0, 0, 1], num_labels=3, label_smoothing=0.1)
    logits, labels = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    weight = torch.tensor(weights, dtype=torch.float32)
    expected = torch.nn.functional.cross_entropy(logits, labels, weight=weight, label_smoothing=0.1)
    torch.testing.assert_close(loss({"logits": logits}, labels), expected)
    unsmoothed = torch.nn.functional.cross_entropy(logits, labels, weight=weight)
    assert not torch.allclose(expected, unsmoothed)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_auxiliary_loss_trains_with_and_without_label_smoothing(tmp_path, label_smoothing):
    """The Auto-LSTM's reconstruction loss is part of the training loss, also when the Trainer smooths the labels."""
    torch.manual_seed(0)
    config = modeling.AutoLSTMConfig(vocab_size=30, embedding_dim=8, hidden_size=4, num_labels=3, dropout=0.0)
    model = modeling.AutoLSTMForSequenceClassification(config).train()
    batch = {
        "input_ids": torch.tensor([[5, 6, 7, 0], [8, 9, 10, 11]]),
        "attention_mask": torch.tensor([[1, 1, 1, 0], [1] * 4]),
    }
    labels = torch.tensor([0, 2])
    args = TrainingArguments(output_dir=str(tmp_path), label_smoothing_factor=label_smoothing, report_to="none")
    trainer = TextClassificationTrainer(model=model, args=args)

    loss = trainer.compute_loss(model, {**batch, "labels": labels})
    outputs = model(**batch)
    expected = torch.nn.functional.cross_entropy(outputs.logits, labels, label_smoothing=label_smoothing)
    torch.testing.assert_close(loss, expected + outputs.auxiliary_loss)
    loss.backward()
    assert model.encoder.decoder.weight_hh_l0.grad.abs().sum() > 0  # only the reconstruction loss reaches it


def test_train_with_class_weights_an_optimizer_choice_and_adversarial_training(run_script, tmp_path, toy_data_dir):
    output_dir = tmp_path / "weighted"
    run_script(
        "train", "--model_type", "auto_lstm", "--config_overrides", TINY_RNN_OVERRIDES.replace(",attention_dim=8", ""),
        "--class_weights", "balanced", "--optimizer", "sgd_momentum", "--layerwise_lr_decay", "0.5",
        "--adversarial_epsilon", "1.5", "--dataset", "tweet_sentiment", "--data_dir", toy_data_dir,
        "--output_dir", output_dir, "--num_train_epochs", "1", "--disable_tqdm", "true",
    )  # fmt: skip
    assert json.loads((output_dir / "all_results.json").read_text())["test_accuracy"] >= 0
    recorded = json.loads((output_dir / "training_args.json").read_text())
    assert (recorded["adversarial_epsilon"], recorded["optimizer"], recorded["momentum"]) == (1.5, "sgd_momentum", 0.9)
    assert recorded["model_name_or_path"] is None  # trained from scratch


def test_adversarial_step_adds_the_gradients_at_the_perturbed_embeddings(tmp_path):
    config = modeling.AttnBiLSTMConfig(
        vocab_size=30, embedding_dim=8, hidden_size=4, attention_dim=4, num_labels=3, dropout=0.0
    )
    model = modeling.AttnBiLSTMForSequenceClassification(config)
    batch = {
        "input_ids": torch.tensor([[5, 6, 7, 0], [8, 9, 10, 11]]),
        "attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]),
        "labels": torch.tensor([0, 2]),
    }
    embeddings = model.get_input_embeddings().weight
    original = embeddings.detach().clone()

    def gradients() -> dict[str, torch.Tensor]:
        model.zero_grad()
        model(**batch).loss.backward()
        return {name: p.grad.clone() for name, p in model.named_parameters()}

    # By hand: the clean gradients, then those with the embedding matrix moved epsilon along its own gradient.
    clean = gradients()
    step = clean["encoder.embeddings.word_embeddings.weight"]
    with torch.no_grad():
        embeddings.add_(step * (0.5 / step.norm()))
    perturbed = gradients()
    with torch.no_grad():
        embeddings.copy_(original)
    model.zero_grad()

    trainer = make_trainer(model, tmp_path, adversarial_epsilon=0.5)
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop, which this test skips
    loss = trainer.training_step(model, dict(batch))
    assert loss.item() == pytest.approx(model(**batch).loss.item())  # the clean loss is what gets logged
    torch.testing.assert_close(embeddings.detach(), original)  # moved back after the adversarial pass
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, clean[name] + perturbed[name], msg=name)
    assert not torch.allclose(perturbed["classifier.weight"], clean["classifier.weight"])


def test_length_grouped_batches_come_in_a_seeded_random_order():
    lengths = torch.randint(1, 2000, (5000,), generator=torch.Generator().manual_seed(0)).tolist()
    batch_size = 64
    sampler = ShuffledLengthGroupedSampler(batch_size, lengths, seed=7)
    order = list(sampler)
    assert sorted(order) == list(range(len(lengths)))
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    assert max(lengths) in [lengths[i] for i in batches[0]]  # the longest first, so memory runs out at once
    assert len(batches[-1]) == len(lengths) % batch_size  # the short batch last: later batches stay aligned
    # Every batch is one of the stock sampler's length-grouped batches (padding stays as low as there)...
    stock = LengthGroupedSampler(batch_size, lengths=lengths)
    stock.generator = torch.Generator().manual_seed(7)
    stock_order = list(stock)
    stock_batches = {frozenset(stock_order[s : s + batch_size]) for s in range(0, len(stock_order), batch_size)}
    assert {frozenset(batch) for batch in batches} == stock_batches
    # ...but they no longer sweep from long to short: the stock order's batch lengths fall within each mega-batch.
    longest = [max(lengths[i] for i in batch) for batch in batches[1:-1]]
    rises = sum(later > earlier for earlier, later in zip(longest, longest[1:]))
    assert rises > len(longest) // 3
    # The order depends on the seed and the epoch alone, so a resumed run sees the same batches.
    assert list(ShuffledLengthGroupedSampler(batch_size, lengths, seed=7)) == order
    sampler.set_epoch(1)
    assert list(sampler) != order
