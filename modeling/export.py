"""ONNX export of a trained model folder, int8 dynamic quantisation, and an onnxruntime model that runs the result.

Every model type goes through `torch.onnx.export` with its TorchScript-based exporter (`dynamo=False`): it turns the
recurrent models' per-layer recurrences into ONNX LSTM/GRU/RNN nodes (the dynamo exporter would not export their
length-dependent paths with dynamic shapes), and it exports BERT and DistilBERT with the same numbers as PyTorch.
torch marks it deprecated since 2.9; every export is checked against PyTorch's logits, so a torch that changes it
fails loudly, not silently. optimum's exporter (optimum-onnx) is not used: it requires transformers 4.x and would
downgrade transformers 5.

An export folder is self-contained: `model.onnx` (inputs `input_ids` and `attention_mask`, both `(batch, length)`
with dynamic batch and length; output `logits`, `(batch, num_labels)`), `model_int8.onnx` with `--quantize int8`,
the tokenizer files (with the `model_max_length` texts are cut to), and `config.json`: the model's configuration
(labels, `text_truncation`: how long texts were cut in training) plus an `onnx` entry naming the graphs.
"""

import importlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from torch import nn
from transformers import AutoConfig, AutoTokenizer, PretrainedConfig, PreTrainedTokenizerBase
from transformers.modeling_outputs import SequenceClassifierOutput

from .data import saved_truncation
from .errors import UserInputError
from .inference import load_model_folder

DEPLOY_INSTALL = 'pip install -e ".[deploy]"'
GRAPH_FILES = {"fp32": "model.onnx", "int8": "model_int8.onnx"}
# --backend choices of the scripts that run a model: PyTorch, or an export folder's fp32 or int8 graph.
BACKENDS = {"torch": None, "onnx": "fp32", "onnx_int8": "int8"}
BACKEND_HELP = (
    "torch runs a training folder with PyTorch; onnx and onnx_int8 run an export folder of scripts/export.py "
    "(model.onnx, or model_int8.onnx from --quantize int8) with onnxruntime on the CPU, with the same tokenizer "
    "and cut of long texts"
)
OPSET = 17
# The largest difference between PyTorch's and onnxruntime's logits on the export's example batch that counts as the
# same model: float32 arithmetic in another order differs by about 1e-6.
EXPORT_TOLERANCE = 1e-4


def require_deploy(module: str, purpose: str) -> ModuleType:
    """Import one of the `deploy` extra's packages, or say in one line how to install them."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise UserInputError(f"{purpose} needs the {module} package, which is missing: {DEPLOY_INSTALL}") from error


class LogitsOnly(nn.Module):
    """The classifier as the exported graph sees it: `(input_ids, attention_mask) -> logits`, nothing else."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def example_batch(config: PretrainedConfig, tokenizer: PreTrainedTokenizerBase) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Two texts of unequal lengths, right-padded: `input_ids` and `attention_mask`, `(2, 8)`. Tracing sees padding, so
    the recurrent models record the path that reads every text up to its own length.
    """
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    usable = [i for i in range(min(config.vocab_size, 64)) if i not in set(tokenizer.all_special_ids)]
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.tensor(usable)[torch.randint(len(usable), (2, 8), generator=generator)]
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 5:] = 0
    return input_ids.masked_fill(attention_mask == 0, pad), attention_mask


def export_onnx(model: nn.Module, example: tuple[torch.Tensor, torch.Tensor], path: Path) -> None:
    """Write `model` (eval mode, CPU) to `path` as an ONNX graph with dynamic batch and length."""
    dynamic = {"input_ids": {0: "batch", 1: "length"}, "attention_mask": {0: "batch", 1: "length"}}
    with warnings.catch_warnings(), torch.no_grad():
        # The tracer warns about every Python-level shape read; the exported graph is checked against PyTorch instead.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LogitsOnly(model).eval(),  # eval: the exporter restores the wrapper's mode, and with it the model's
            example,
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={**dynamic, "logits": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )


def quantize_int8(source: Path, target: Path) -> None:
    """
    `target`: `source` with int8 weights and activations quantised on the fly (onnxruntime's dynamic quantisation of
    MatMul, Gemm, LSTM, GRU and attention nodes); what it adds to `quantize_dynamic` is only the pre-processing step
    onnxruntime recommends (shape inference and graph optimisation first).
    """
    quantization = require_deploy("onnxruntime.quantization", "--quantize int8")
    prepared = target.with_name(target.stem + "_prepared.onnx")
    try:
        quantization.quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantization.quantize_dynamic(
            str(prepared),
            str(target),
            weight_type=quantization.QuantType.QInt8,
            # Outputs of fused (com.microsoft) nodes, which shape inference cannot type, are float.
            extra_options={"DefaultTensorType": 1},  # onnx.TensorProto.FLOAT
        )
    finally:
        prepared.unlink(missing_ok=True)


def check_output_dir(output_dir: Path) -> None:
    """Refuse to write an export over an existing file or a non-empty folder."""
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise UserInputError(f"{output_dir} already exists and is not empty; give a new or empty --output_dir")


def export_folder(model_dir: str | Path, output_dir: str | Path, quantize: str | None = None) -> dict:
    """
    Export the trained folder `model_dir` to `output_dir`: `model.onnx`, `model_int8.onnx` when `quantize` is
    "int8", the tokenizer and config.json. Returns what was written and how far each graph's logits are from
    PyTorch's on an example batch of unequal lengths (`max_abs_difference`).
    """
    onnxruntime = require_deploy("onnxruntime", "ONNX export")
    require_deploy("onnx", "ONNX export")
    output_dir = Path(output_dir)
    check_output_dir(output_dir)
    # fp32 whatever the folder holds (a checkpoint saved in fp16 loads in fp16 by default): the graph is fp32.
    model, tokenizer = load_model_folder(str(model_dir), torch.device("cpu"), dtype=torch.float32)
    example = example_batch(model.config, tokenizer)
    output_dir.mkdir(parents=True, exist_ok=True)
    export_onnx(model, example, output_dir / GRAPH_FILES["fp32"])
    if quantize == "int8":
        quantize_int8(output_dir / GRAPH_FILES["fp32"], output_dir / GRAPH_FILES["int8"])

    with torch.no_grad():
        expected = model(input_ids=example[0], attention_mask=example[1]).logits.numpy()
    differences = {}
    for variant, name in GRAPH_FILES.items():
        if (output_dir / name).is_file():
            session = onnxruntime.InferenceSession(str(output_dir / name), providers=["CPUExecutionProvider"])
            logits = session.run(["logits"], {"input_ids": example[0].numpy(), "attention_mask": example[1].numpy()})
            differences[variant] = float(np.abs(logits[0] - expected).max())
    if differences["fp32"] > EXPORT_TOLERANCE:
        raise RuntimeError(
            f"the exported graph's logits differ from PyTorch's by {differences['fp32']:.2g} (more than "
            f"{EXPORT_TOLERANCE:g}); this model type does not export faithfully"
        )

    tokenizer.save_pretrained(output_dir)
    config = model.config.to_dict()
    config.pop("auto_map", None)  # names modeling files a training folder has and an export folder does not
    config["text_truncation"] = saved_truncation(model.config)
    config["onnx"] = {
        "graphs": {variant: GRAPH_FILES[variant] for variant in differences},
        "inputs": ["input_ids", "attention_mask"],
        "output": "logits",
        "opset": OPSET,
        "exported_from": str(Path(model_dir).resolve()),
        "max_abs_difference_from_pytorch": differences,
    }
    (output_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return {"output_dir": str(output_dir), "graphs": config["onnx"]["graphs"], "max_abs_difference": differences}


@dataclass
class OnnxSequenceClassifier:
    """
    An exported graph run by onnxruntime that answers as a PyTorch sequence classifier does:
    `model(input_ids=..., attention_mask=...).logits`, a `(batch, num_labels)` float tensor. Other inputs a
    collator adds (BERT's `token_type_ids`, all zeros for single texts) are ignored.
    """

    session: object  # onnxruntime.InferenceSession
    config: PretrainedConfig
    graph: Path
    device = torch.device("cpu")

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **unused):
        ids = input_ids.cpu().numpy().astype(np.int64, copy=False)
        mask = np.ones_like(ids) if attention_mask is None else attention_mask.cpu().numpy().astype(np.int64)
        logits = self.session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
        return SequenceClassifierOutput(logits=torch.from_numpy(logits))

    def eval(self) -> "OnnxSequenceClassifier":
        return self

    def num_parameters(self) -> int:
        """The weights stored in the graph: every initializer of more than one float or 8-bit integer value."""
        onnx = require_deploy("onnx", "an ONNX backend")
        weights = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
        graph = onnx.load(str(self.graph), load_external_data=False).graph
        sizes = (int(np.prod(tensor.dims)) for tensor in graph.initializer if tensor.data_type in weights)
        return sum(size for size in sizes if size > 1)


def load_onnx_folder(
    folder: str | Path, variant: str = "fp32"
) -> tuple[OnnxSequenceClassifier, PreTrainedTokenizerBase]:
    """The graph `variant` ("fp32" or "int8") of an export folder, run by onnxruntime on the CPU, and its tokenizer."""
    onnxruntime = require_deploy("onnxruntime", "an ONNX backend")
    path = Path(folder)
    if not path.is_dir():
        raise UserInputError(f"model folder {folder} does not exist; pass the --output_dir of scripts/export.py")
    if not (path / "config.json").is_file():
        raise UserInputError(f"{folder} holds no config.json; pass the --output_dir of scripts/export.py")
    graph = path / GRAPH_FILES[variant]
    if not graph.is_file():
        quantize = " --quantize int8" if variant == "int8" else ""
        raise UserInputError(
            f"{folder} holds no ONNX graph ({graph.name}); make one with scripts/export.py --model TRAINED_FOLDER"
            f"{quantize} --output_dir NEW_FOLDER"
        )
    from . import registry  # noqa: F401  (registers the recurrent configs with AutoConfig)

    config = AutoConfig.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    options = onnxruntime.SessionOptions()
    # As many threads as PyTorch uses here, so that the two backends are timed on the same cores.
    options.intra_op_num_threads = torch.get_num_threads()
    # No spinning between runs: idle threads that spin take the cores from PyTorch (or a reference program) running
    # beside it in the same process, as the benchmark's turns do, and from anything else on a shared machine.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    return OnnxSequenceClassifier(session, config, graph), tokenizer


def load_for_backend(folder: str, backend: str, device: torch.device, **model_kwargs) -> tuple:
    """`load_model_folder` for backend "torch"; `load_onnx_folder` for "onnx" (fp32) and "onnx_int8"."""
    if BACKENDS[backend] is None:
        return load_model_folder(folder, device, **model_kwargs)
    return load_onnx_folder(folder, BACKENDS[backend])  # on the CPU, whatever `device` says
