"""The recurrent architectures as transformers models: one shared set of checks, run on every architecture."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import REPO
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

import modeling
from modeling.registry import recurrent_specs

# (config, encoder, classifier) of every registered recurrent type.
ARCHITECTURES = [(s.config_class, s.model_class.base_model_class, s.model_class) for s in recurrent_specs()]
IDS = [config.model_type for config, _, _ in ARCHITECTURES]


class RNNModelTester:
    """A tiny configuration and inputs in the manner of transformers' <Model>ModelTester."""

    batch_size, seq_length, vocab_size, num_labels = 13, 7, 99, 3

    def __init__(self, config_class, **overrides):
        settings = dict(vocab_size=self.vocab_size, num_labels=self.num_labels, **config_class.tiny_settings)
        self.config = config_class(**{**settings, **overrides})

    def inputs(self, seed: int = 0) -> dict:
        generator = torch.Generator().manual_seed(seed)
        input_ids = torch.randint(1, self.vocab_size, (self.batch_size, self.seq_length), generator=generator)
        lengths = torch.randint(1, self.seq_length + 1, (self.batch_size,), generator=generator)
        attention_mask = (torch.arange(self.seq_length)[None, :] < lengths[:, None]).long()
        input_ids = input_ids.masked_fill(attention_mask == 0, self.config.pad_token_id)
        labels = torch.randint(0, self.num_labels, (self.batch_size,), generator=generator)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


@pytest.fixture(params=ARCHITECTURES, ids=IDS)
def architecture(request):
    return request.param


def test_config_registered_with_auto_classes(architecture):
    config_class, encoder_class, classifier_class = architecture
    config = AutoConfig.for_model(config_class.model_type, num_labels=2)
    assert isinstance(config, config_class)
    assert type(AutoModel.from_config(config)) is encoder_class
    assert type(AutoModelForSequenceClassification.from_config(config)) is classifier_class


def test_forward_shapes_loss_and_backward(architecture):
    config_class, _, classifier_class = architecture
    tester = RNNModelTester(config_class)
    model = classifier_class(tester.config)
    inputs = tester.inputs()
    outputs = model(**inputs)
    assert outputs.logits.shape == (tester.batch_size, tester.num_labels)
    assert outputs.loss.ndim == 0 and torch.isfinite(outputs.loss)
    outputs.loss.backward()
    for name, param in model.named_parameters():
        if param.requires_grad and "decoder" not in name and "reconstruction" not in name:
            assert param.grad is not None, name
    no_labels = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
    assert no_labels.loss is None


@pytest.mark.parametrize(
    "problem_type, make_labels",
    [
        ("single_label_classification", lambda n, k: torch.randint(0, k, (n,))),
        ("multi_label_classification", lambda n, k: torch.randint(0, 2, (n, k)).float()),
        ("regression", lambda n, k: torch.randn(n, k)),
    ],
)
def test_loss_follows_problem_type(architecture, problem_type, make_labels):
    config_class, _, classifier_class = architecture
    tester = RNNModelTester(config_class, problem_type=problem_type)
    model = classifier_class(tester.config).eval()
    inputs = tester.inputs()
    labels = make_labels(tester.batch_size, tester.num_labels)
    logits = model(inputs["input_ids"], inputs["attention_mask"]).logits
    loss = model(inputs["input_ids"], inputs["attention_mask"], labels=labels).loss
    expected = {
        "single_label_classification": lambda: torch.nn.functional.cross_entropy(logits, labels),
        "multi_label_classification": lambda: torch.nn.functional.binary_cross_entropy_with_logits(logits, labels),
        "regression": lambda: torch.nn.functional.mse_loss(logits, labels),
    }[problem_type]()
    torch.testing.assert_close(loss, expected)


def test_padding_never_changes_a_prediction(architecture):
    config_class, _, classifier_class = architecture
    tester = RNNModelTester(config_class)
    model = classifier_class(tester.config).eval()
    inputs = tester.inputs()
    batched = model(inputs["input_ids"], inputs["attention_mask"]).logits
    # Each text alone, without padding, and with far more padding than the batch had.
    for i in range(tester.batch_size):
        length = int(inputs["attention_mask"][i].sum())
        alone = model(inputs["input_ids"][i : i + 1, :length]).logits
        padded_ids = torch.cat([inputs["input_ids"][i : i + 1, :length], torch.zeros(1, 20, dtype=torch.long)], 1)
        padded_mask = (padded_ids != 0).long()
        padded = model(padded_ids, padded_mask).logits
        torch.testing.assert_close(alone, batched[i : i + 1], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(padded, batched[i : i + 1], atol=1e-5, rtol=1e-5)


def test_save_and_load_round_trip(architecture, tmp_path):
    config_class, encoder_class, classifier_class = architecture
    tester = RNNModelTester(config_class)
    model = classifier_class(tester.config).eval()
    inputs = tester.inputs()
    model.save_pretrained(tmp_path)

    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is classifier_class
    torch.testing.assert_close(
        loaded(inputs["input_ids"], inputs["attention_mask"]).logits,
        model(inputs["input_ids"], inputs["attention_mask"]).logits,
    )
    encoder = AutoModel.from_pretrained(tmp_path).eval()
    assert type(encoder) is encoder_class
    torch.testing.assert_close(
        encoder(inputs["input_ids"], inputs["attention_mask"]).pooler_output,
        model.encoder(inputs["input_ids"], inputs["attention_mask"]).pooler_output,
    )


LOAD_WITHOUT_PACKAGE = textwrap.dedent(
    """
    import importlib.util, json, sys
    repo, request = sys.argv[1], json.loads(sys.argv[2])
    sys.path = [p for p in sys.path if p not in ("", repo)]
    sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    assert importlib.util.find_spec("modeling") is None, "the package is still importable"
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, PreTrainedModel  # imported first
    # A torch without the private functional recurrences of the CPU fast path: the saved code must fall back.
    for name in ("lstm", "gru", "rnn_tanh", "rnn_relu"):
        delattr(torch, name)
    results = {}
    for folder, (ids, mask) in request.items():
        ids, mask = torch.tensor(ids), torch.tensor(mask)
        classifier = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
        encoder = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
        with torch.no_grad():
            results[folder] = {
                "logits": classifier(ids, mask).logits.tolist(),
                "pooled": encoder(ids, mask).pooler_output.tolist(),
                "module": type(classifier).__module__,
            }
    print(json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def loaded_without_package(tmp_path_factory) -> dict:
    """Save every architecture, then load them all with trust_remote_code in one Python without this package."""
    models, request = {}, {}
    for config_class, _, classifier_class in ARCHITECTURES:
        tester = RNNModelTester(config_class)
        model = classifier_class(tester.config).eval()
        folder = tmp_path_factory.mktemp(config_class.model_type)
        model.save_pretrained(folder)
        inputs = tester.inputs()  # texts of unequal lengths: the CPU fast path (here) against its fallback (there)
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        models[config_class.model_type] = (model, (ids, mask), str(folder))
        request[str(folder)] = (ids.tolist(), mask.tolist())
    result = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_PACKAGE, str(REPO), json.dumps(request)],
        cwd=tmp_path_factory.mktemp("elsewhere"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    return {name: (model, ids, loaded[folder]) for name, (model, ids, folder) in models.items()}


def test_loads_with_trust_remote_code_without_this_package(architecture, loaded_without_package):
    model, (ids, mask), loaded = loaded_without_package[architecture[0].model_type]
    assert loaded["module"].startswith("transformers_modules.")
    with torch.no_grad():
        torch.testing.assert_close(torch.tensor(loaded["logits"]), model(ids, mask).logits, atol=1e-5, rtol=1e-5)
        pooled = model.encoder(ids, mask).pooler_output
        torch.testing.assert_close(torch.tensor(loaded["pooled"]), pooled, atol=1e-5, rtol=1e-5)


def test_a_folder_saved_before_the_restructuring_loads_with_the_same_logits():
    """tests/fixtures holds a folder the flat-layout package saved, with the logits it gave then."""
    from transformers import AutoTokenizer

    folder = REPO / "tests" / "fixtures" / "attn_bilstm_saved_before_restructure"
    expected = json.loads((folder / "expected_logits.json").read_text())
    # With this package imported, its registered classes (the new layout's code) read the old weights.
    model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
    assert type(model).__module__ == "modeling.models.modeling_attn_bilstm"
    batch = AutoTokenizer.from_pretrained(folder)(expected["texts"], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, torch.tensor(expected["logits"]), atol=1e-6, rtol=1e-5)


def test_pretrained_vectors_survive_post_init_and_from_pretrained(architecture, tmp_path):
    config_class, _, classifier_class = architecture
    tester = RNNModelTester(config_class, use_token_weights=True)
    model = classifier_class(tester.config)
    vectors = torch.randn(tester.vocab_size, 16)
    weights = torch.rand(tester.vocab_size) + 0.5
    model.load_pretrained_embeddings(vectors)
    model.set_token_weights(weights)
    model.post_init()
    model.init_weights()
    torch.testing.assert_close(model.get_input_embeddings().weight.detach(), vectors)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    torch.testing.assert_close(loaded.get_input_embeddings().weight.detach(), vectors)
    torch.testing.assert_close(loaded.encoder.embeddings.token_weights, weights)


def test_pretrained_vectors_of_the_wrong_shape_are_refused():
    tester = RNNModelTester(modeling.LSTMConfig)
    model = modeling.LSTMForSequenceClassification(tester.config)
    with pytest.raises(ValueError, match="shape"):
        model.load_pretrained_embeddings(torch.zeros(tester.vocab_size, 17))


def test_frozen_embeddings_do_not_train():
    tester = RNNModelTester(modeling.LSTMConfig, freeze_embeddings=True)
    model = modeling.LSTMForSequenceClassification(tester.config)
    assert not model.get_input_embeddings().weight.requires_grad


def test_word_dropout_zeroes_whole_word_vectors_in_training_only():
    tester = RNNModelTester(modeling.LSTMConfig, word_dropout=0.5, dropout=0.0)
    embedding = modeling.LSTMForSequenceClassification(tester.config).encoder.embeddings
    input_ids = torch.randint(1, tester.vocab_size, (64, 32), generator=torch.Generator().manual_seed(0))
    full = embedding.word_embeddings(input_ids)  # (batch, seq_len, embedding_dim)

    torch.manual_seed(0)
    dropped = embedding.train()(input_ids)
    zeroed = dropped.eq(0).all(-1)  # (batch, seq_len): the words dropped
    torch.testing.assert_close(dropped[~zeroed], full[~zeroed])  # the others pass unscaled, every dimension kept
    assert 0.45 < zeroed.float().mean() < 0.55
    torch.testing.assert_close(embedding.eval()(input_ids), full)


def test_attention_weights_are_a_distribution_that_ignores_padding():
    tester = RNNModelTester(modeling.AttnBiLSTMConfig)
    model = modeling.AttnBiLSTMForSequenceClassification(tester.config).eval()
    inputs = tester.inputs()
    outputs = model(inputs["input_ids"], inputs["attention_mask"], output_attentions=True)
    (weights,) = outputs.attentions
    assert weights.shape == (tester.batch_size, tester.seq_length)
    torch.testing.assert_close(weights.sum(-1), torch.ones(tester.batch_size))
    assert torch.all(weights[inputs["attention_mask"] == 0] == 0)
    assert model(inputs["input_ids"], inputs["attention_mask"]).attentions is None


def test_attention_max_pooling_adds_the_maximum_over_real_tokens():
    tester = RNNModelTester(modeling.AttnBiLSTMConfig, pooling="attention_max")
    model = modeling.AttnBiLSTMForSequenceClassification(tester.config).eval()
    inputs = tester.inputs()
    with torch.no_grad():
        outputs = model.encoder(inputs["input_ids"], inputs["attention_mask"])
    width = tester.config.output_size
    assert tester.config.pooled_size == 2 * width
    assert outputs.pooler_output.shape == (tester.batch_size, 2 * width)
    for text, length in enumerate(inputs["attention_mask"].sum(-1).tolist()):
        expected = outputs.last_hidden_state[text, :length].amax(dim=0)
        torch.testing.assert_close(outputs.pooler_output[text, width:], expected)

    attention_only = modeling.AttnBiLSTMConfig(**{**tester.config.to_dict(), "pooling": "attention"})
    model = modeling.AttnBiLSTMForSequenceClassification(attention_only)
    assert model.classifier.in_features == width
    with pytest.raises(ValueError, match="pooling"):
        modeling.AttnBiLSTMConfig(pooling="mean")


def test_ngram_bag_is_the_mean_of_word_and_hashed_pair_vectors():
    tester = RNNModelTester(modeling.AttnBiLSTMConfig, ngram_embedding_dim=4, ngram_order=2, ngram_buckets=11)
    model = modeling.AttnBiLSTMForSequenceClassification(tester.config).eval()
    assert model.classifier.in_features == 2 * tester.config.output_size + 4
    bag, inputs = model.encoder.ngram_bag, tester.inputs()
    with torch.no_grad():
        pooled = model.encoder(inputs["input_ids"], inputs["attention_mask"]).pooler_output
        rows = bag.embeddings.weight
        for text, length in enumerate(inputs["attention_mask"].sum(-1).tolist()):
            words = inputs["input_ids"][text, :length].tolist()
            pairs = [((2 * bag.hash_multiplier + a) * bag.hash_multiplier + b) % 11 for a, b in zip(words, words[1:])]
            expected = rows[words + [tester.vocab_size + pair for pair in pairs]].mean(dim=0)
            torch.testing.assert_close(pooled[text, -4:], expected)

    # Padding never reaches the bag: each text alone gives the batch's logits.
    batched = model(inputs["input_ids"], inputs["attention_mask"]).logits
    for text, length in enumerate(inputs["attention_mask"].sum(-1).tolist()):
        alone = model(inputs["input_ids"][text : text + 1, :length]).logits
        torch.testing.assert_close(alone, batched[text : text + 1], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="ngram_order"):
        modeling.AttnBiLSTMConfig(ngram_embedding_dim=8, ngram_order=0)


def test_folder_saved_before_pooling_existed_loads_as_trained(tmp_path):
    tester = RNNModelTester(modeling.AttnBiLSTMConfig, pooling="attention")
    model = modeling.AttnBiLSTMForSequenceClassification(tester.config).eval()
    model.save_pretrained(tmp_path)
    config_file = tmp_path / "config.json"
    saved = json.loads(config_file.read_text())
    del saved["pooling"]  # as written before the option existed
    config_file.write_text(json.dumps(saved))

    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert loaded.config.pooling == "attention"
    inputs = tester.inputs()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, model(**inputs).logits)
    # A new configuration still gets the default.
    assert modeling.AttnBiLSTMConfig().pooling == "attention_max"


@pytest.mark.parametrize("cell_type", ["lstm", "gru", "rnn"])
def test_lstm_cell_types(cell_type):
    tester = RNNModelTester(modeling.LSTMConfig, cell_type=cell_type, bidirectional=True, num_layers=2)
    model = modeling.LSTMForSequenceClassification(tester.config)
    assert type(model.encoder.rnn).__name__ == cell_type.upper()
    assert model(**tester.inputs()).logits.shape == (tester.batch_size, tester.num_labels)


def test_unknown_cell_type_is_refused():
    with pytest.raises(ValueError, match="cell_type"):
        modeling.LSTMConfig(cell_type="transformer")


def test_auto_lstm_adds_the_weighted_reconstruction_loss_in_training_only():
    tester = RNNModelTester(modeling.AutoLSTMConfig, reconstruction_weight=0.5)
    model = modeling.AutoLSTMForSequenceClassification(tester.config)
    inputs = tester.inputs()
    torch.manual_seed(0)
    model.train()
    outputs = model(**inputs)
    assert outputs.auxiliary_loss is not None and outputs.auxiliary_loss > 0
    model.config.reconstruction_weight = 0.0
    assert model(**inputs).auxiliary_loss is None
    model.config.reconstruction_weight = 0.5
    model.eval()
    eval_outputs = model(**inputs)
    assert eval_outputs.auxiliary_loss is None
    torch.testing.assert_close(
        eval_outputs.loss, torch.nn.functional.cross_entropy(eval_outputs.logits, inputs["labels"])
    )


@pytest.mark.parametrize(
    "cell, nonlinearity, num_layers, bidirectional",
    [("lstm", None, 2, True), ("lstm", None, 1, False), ("gru", None, 2, True), ("rnn", "tanh", 2, True),
     ("rnn", "relu", 1, True)],
)  # fmt: skip
def test_unpacked_recurrence_matches_the_packed_one(cell, nonlinearity, num_layers, bidirectional):
    """The CPU path (each text reversed within its length) gives the packed path's outputs, states and gradients."""
    from modeling.models.modeling_rnn_utils import RNN_CELLS, run_rnn_packed
    from modeling.models.rnn_kernels import run_rnn_reversed

    torch.manual_seed(0)
    kwargs = {"nonlinearity": nonlinearity} if nonlinearity else {}
    rnn = RNN_CELLS[cell](5, 4, num_layers=num_layers, bidirectional=bidirectional, batch_first=True, **kwargs)
    rnn.eval()  # no dropout between layers, so both paths compute the same function
    lengths = torch.tensor([6, 1, 3, 6, 2])
    inputs = torch.randn(5, 6, 5)
    results = []
    for run in (run_rnn_packed, run_rnn_reversed):
        x = inputs.clone().requires_grad_(True)
        rnn.zero_grad()
        outputs, h_n = run(rnn, x, lengths)
        (outputs.pow(2).sum() + h_n.pow(2).sum()).backward()
        results.append((outputs, h_n, x.grad, [p.grad.clone() for p in rnn.parameters()]))
    (packed_out, packed_h, packed_dx, packed_dw), (out, h, dx, dw) = results
    assert out.shape == packed_out.shape and h.shape == packed_h.shape == (num_layers * (1 + bidirectional), 5, 4)
    torch.testing.assert_close(out, packed_out)
    torch.testing.assert_close(h, packed_h)
    assert out[1, 1:].abs().sum() == 0  # zero at padding
    torch.testing.assert_close(dx, packed_dx)
    for grad, packed_grad in zip(dw, packed_dw):
        torch.testing.assert_close(grad, packed_grad)
    # Without padding, run_rnn calls the module as it is: the same function again.
    from modeling.models.modeling_rnn_utils import run_rnn

    with torch.no_grad():
        full_out, full_h = run_rnn(rnn, inputs, torch.ones(5, 6))
        torch.testing.assert_close(full_out, run_rnn_reversed(rnn, inputs, torch.full((5,), 6))[0])
        torch.testing.assert_close(full_h, run_rnn_packed(rnn, inputs, torch.full((5,), 6))[1])


def test_glove_reader_takes_words_with_spaces_and_refuses_another_width(tmp_path):
    from modeling.data.word_vectors import read_glove_vectors
    from modeling.errors import UserInputError

    glove = tmp_path / "glove.txt"
    glove.write_text("good 1 2\n. . . 3 4\nbad 5 6\n")  # the second word holds spaces, as in glove.840B.300d
    vectors, found = read_glove_vectors(glove, {"good": 0, "bad": 1, ". . .": 2}, torch.zeros(3, 2))
    assert found == 3 and vectors.tolist() == [[1, 2], [5, 6], [3, 4]]
    glove.write_text("good 1 2 3\n")  # 3 wide, first line: another width, not a word with spaces
    with pytest.raises(UserInputError, match="embedding_dim=3"):
        read_glove_vectors(glove, {"good": 0}, torch.zeros(1, 2))


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_cpu_dropout_keeps_each_element_with_probability_one_minus_p(p):
    """The packed-bits mask drops at rate p, from every 16-bit piece of a draw alike, and rescales what it keeps."""
    from modeling.models.rnn_kernels import dropout

    torch.manual_seed(0)
    inputs = torch.rand(512, 1024) + 1.0  # never 0, so a 0 in the output is a dropped element
    torch.manual_seed(1)
    outputs = dropout(inputs, p, training=True)
    dropped = outputs == 0
    # 524,288 elements: the standard error of a rate is under 0.0007; each of the 4 pieces of a draw has 131,072.
    assert abs(dropped.float().mean().item() - p) < 0.004
    for piece_rate in dropped.view(-1, 4).float().mean(0).tolist():
        assert abs(piece_rate - p) < 0.008
    torch.testing.assert_close(outputs[~dropped], inputs[~dropped] / (1 - p))
    # Seeded: the same seed draws the same mask (runs stay reproducible).
    torch.manual_seed(1)
    torch.testing.assert_close(dropout(inputs, p, training=True), outputs)


def test_cpu_dropout_gradient_dtype_and_evaluation():
    """The gradient flows through the kept elements only; the dtype stays; evaluation and p=0 change nothing."""
    from modeling.models.rnn_kernels import Dropout, dropout

    torch.manual_seed(0)
    inputs = torch.randn(8, 64, requires_grad=True)
    outputs = dropout(inputs, 0.5, training=True)
    outputs.sum().backward()
    torch.testing.assert_close(inputs.grad, (outputs != 0).float() * 2.0)
    assert dropout(inputs.detach().bfloat16(), 0.5, training=True).dtype == torch.bfloat16
    module = Dropout(0.5).eval()
    assert torch.equal(module(inputs), inputs)
    assert torch.equal(dropout(inputs, 0.0, training=True), inputs)
    assert torch.equal(dropout(inputs, 1.0, training=True), torch.zeros_like(inputs))


def test_cpu_training_without_padding_draws_dropout_between_layers_here():
    """A training batch with no padding still runs through `run_rnn_reversed`, so its dropout is the fast one."""
    from modeling.models.modeling_rnn_utils import RNN_CELLS, run_rnn

    rnn = RNN_CELLS["lstm"](5, 4, num_layers=2, bidirectional=True, batch_first=True, dropout=0.5).train()
    inputs, mask = torch.randn(3, 6, 5), torch.ones(3, 6)
    with torch.no_grad():
        torch.manual_seed(0)
        ours = run_rnn(rnn, inputs, mask)[0]
        torch.manual_seed(0)
        module = rnn(inputs)[0]
        torch.manual_seed(0)
        assert torch.equal(run_rnn(rnn, inputs, mask)[0], ours)  # seeded
    assert not torch.allclose(ours, module)  # the module would draw its own (slow) mask: another result
    rnn.eval()
    with torch.no_grad():
        torch.testing.assert_close(run_rnn(rnn, inputs, mask)[0], rnn(inputs)[0])
