"""What trains when a pretrained transformer is fine-tuned: all of it, its head, its top layers, or LoRA adapters."""

import re
from pathlib import Path

from torch import nn
from transformers import PreTrainedModel, Trainer

from ..errors import UserInputError

FINETUNE_STRATEGIES = ("full", "freeze", "hybrid", "lora")
# The index of the encoder layer a parameter belongs to, in BERT's and DistilBERT's parameter names.
LAYER_INDEX = re.compile(r"\.layers?\.(\d+)\.")


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def num_encoder_layers(model: nn.Module) -> int:
    indices = [int(m.group(1)) for name, _ in model.named_parameters() if (m := LAYER_INDEX.search(name))]
    return max(indices) + 1 if indices else 0


def apply_finetune_strategy(
    model: PreTrainedModel, strategy: str, unfreeze_top_k: int | None = None, lora_r: int = 8, lora_alpha: int = 16
) -> nn.Module:
    """
    Freeze what `strategy` says and return the model to train.

    - `full`: everything trains.
    - `freeze`: the pretrained encoder is frozen; only the task head trains.
    - `hybrid`: embeddings and the lower layers frozen; the top `unfreeze_top_k` layers (default half) and the head
      train.
    - `lora`: peft LoRA adapters on the attention projections; the head trains in full. Returns a `PeftModel`.
    """
    if strategy not in FINETUNE_STRATEGIES:
        raise UserInputError(
            f"unknown fine-tuning strategy {strategy!r}; choose one of: {', '.join(FINETUNE_STRATEGIES)}"
        )
    if strategy == "full":
        return model
    if strategy == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        # The task head (everything outside the pretrained encoder that has weights) trains in full.
        head = [
            name
            for name, module in model.named_children()
            if name != model.base_model_prefix and any(True for _ in module.parameters())
        ]
        config = LoraConfig(
            task_type=TaskType.SEQ_CLS, r=lora_r, lora_alpha=lora_alpha, lora_dropout=0.1, modules_to_save=head
        )
        return get_peft_model(model, config)

    num_layers = num_encoder_layers(model.base_model)
    keep = 0 if strategy == "freeze" else (num_layers // 2 if unfreeze_top_k is None else unfreeze_top_k)
    if not 0 <= keep <= num_layers:
        raise UserInputError(f"--unfreeze_top_k must be between 0 and {num_layers} (the encoder's layers), got {keep}")
    for name, param in model.base_model.named_parameters():
        match = LAYER_INDEX.search(f".{name}")
        trainable_layer = match is not None and int(match.group(1)) >= num_layers - keep
        # In hybrid mode what follows the layers (a pooler) trains with the top layers.
        after_layers = strategy == "hybrid" and match is None and "embeddings" not in name
        param.requires_grad_(trainable_layer or after_layers)
    return model


def merge_lora_into_trainer(trainer: Trainer, adapter_dir: str | Path, base_model: str | None = None) -> None:
    """
    After LoRA training: save the adapter (peft's adapter_config.json and adapter_model.safetensors, with the
    tokenizer) in `adapter_dir`, then merge it into the base weights and give the trainer the merged model. What the
    trainer evaluates and saves from then on is that plain transformers model, which every loader (`pipeline()`,
    `from_pretrained`, the scripts) reads without peft; the adapter stays for those who want it. `base_model` (the
    checkpoint as an absolute path or Hub id) is what the adapter names as its base.
    """
    peft_model = trainer.model
    if base_model is not None:  # as given to train.py it may be a path relative to where that ran
        peft_model.peft_config[peft_model.active_adapter].base_model_name_or_path = base_model
    if trainer.is_world_process_zero():
        peft_model.save_pretrained(adapter_dir)
        # peft's blank card template; the run folder's own card describes the adapter.
        (Path(adapter_dir) / "README.md").unlink(missing_ok=True)
        if trainer.processing_class is not None:  # AutoPeftModel reads the tokenizer from the adapter's folder
            trainer.processing_class.save_pretrained(adapter_dir)
    # Every process merges its own copy (the same weights everywhere), so evaluation stays distributed.
    merged = peft_model.merge_and_unload()
    trainer.model = trainer.model_wrapped = merged
