"""What every recurrent classifier shares: the embedding layer, packed recurrence, weight init and the task head.

Each architecture's own forward pass lives in its `modeling_<arch>.py`; this file holds only the pieces they
have in common, so that a saved model folder (which copies this file beside the architecture's) stays
self-contained.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput

from .configuration_rnn_utils import RNNClassifierConfig
from .rnn_kernels import Dropout, has_fast_recurrence, run_rnn_reversed


@dataclass
class RNNModelOutput(BaseModelOutputWithPooling):
    """
    `BaseModelOutputWithPooling` plus `auxiliary_loss`: an extra, already weighted, training loss that an encoder
    asks its task head to add (the Auto-LSTM's reconstruction loss). `attentions`, when returned, is a one-element
    tuple holding the attention over time of shape `(batch_size, sequence_length)`.
    """

    auxiliary_loss: torch.FloatTensor | None = None


@dataclass
class RNNSequenceClassifierOutput(SequenceClassifierOutput):
    """
    `SequenceClassifierOutput` plus the encoder's `auxiliary_loss`, already included in `loss` when labels are given;
    a custom loss (such as a class-weighted one) adds it itself.
    """

    auxiliary_loss: torch.FloatTensor | None = None


class TokenEmbedding(nn.Module):
    """Word embeddings, optionally scaled by a fixed weight per token (TF-IDF), followed by dropout."""

    def __init__(self, config: RNNClassifierConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        if config.freeze_embeddings:
            self.word_embeddings.weight.requires_grad_(False)
        # A buffer, not a parameter: saved with the weights but never trained.
        self.register_buffer("token_weights", torch.ones(config.vocab_size) if config.use_token_weights else None)
        self.dropout = Dropout(config.dropout)
        self.word_dropout = config.word_dropout

    def forward(self, input_ids: torch.LongTensor) -> torch.Tensor:
        embeddings = self.word_embeddings(input_ids)  # (batch, seq_len, embedding_dim)
        if self.token_weights is not None:
            embeddings = embeddings * self.token_weights[input_ids].unsqueeze(-1)
        if self.training and self.word_dropout > 0:
            keep = torch.rand(input_ids.shape, device=input_ids.device) >= self.word_dropout  # (batch, seq_len)
            embeddings = embeddings * keep.unsqueeze(-1)
        return self.dropout(embeddings)


def default_attention_mask(input_ids: torch.LongTensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """The attention mask, or all ones when none is given (every token is real)."""
    return torch.ones_like(input_ids) if attention_mask is None else attention_mask


RNN_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def stacked_rnn(config: RNNClassifierConfig, input_size: int, cell_type: str = "lstm") -> nn.RNNBase:
    """The stacked recurrent layers `config` describes: batch first, dropout between layers."""
    return RNN_CELLS[cell_type](
        input_size,
        config.hidden_size,
        num_layers=config.num_layers,
        bidirectional=config.bidirectional,
        dropout=config.dropout if config.num_layers > 1 else 0.0,
        batch_first=True,
    )


def run_rnn(rnn: nn.RNNBase, inputs: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Run `rnn` over the real tokens only (right-padded batches), so padding never changes a result.

    Args:
        inputs: `(batch, seq_len, features)`.
        attention_mask: `(batch, seq_len)`, 1 for real tokens.

    Returns:
        The outputs `(batch, seq_len, hidden * directions)`, zero at padding, and the final hidden states `h_n`
        `(layers * directions, batch, hidden)`, ordered as `nn.LSTM`/`nn.GRU`/`nn.RNN` order them.
    """
    # An empty text still gets one (padding) step.
    lengths = attention_mask.sum(-1).clamp(min=1).long()  # (batch,)
    # With no padding (a single text, say) the module runs as it is; not while it trains on a CPU with dropout
    # between layers, which it would draw with torch's slow CPU dropout (see `dropout`).
    slow_dropout = inputs.device.type == "cpu" and rnn.training and rnn.dropout > 0
    # An exported graph records one path for every batch: the reversed one, made of plain ops (gather, and one ONNX
    # LSTM/GRU per layer and direction), which gives the packed path's results for any padding.
    exporting = torch.onnx.is_in_onnx_export()
    if not exporting and bool((lengths == inputs.size(1)).all()) and not slow_dropout:
        outputs, state = rnn(inputs)
        return outputs, state[0] if isinstance(state, tuple) else state
    if exporting or (inputs.device.type == "cpu" and has_fast_recurrence(rnn)):
        return run_rnn_reversed(rnn, inputs, lengths)
    return run_rnn_packed(rnn, inputs, lengths)


def run_rnn_packed(rnn: nn.RNNBase, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`run_rnn` through a packed sequence: one cuDNN call for every layer and direction on a GPU."""
    packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
    packed_outputs, state = rnn(packed)
    outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=inputs.size(1))
    return outputs, state[0] if isinstance(state, tuple) else state


def last_layer_state(h_n: torch.Tensor, rnn: nn.RNNBase) -> torch.Tensor:
    """The top layer's final hidden state, both directions concatenated: `(batch, hidden * directions)`."""
    directions = 2 if rnn.bidirectional else 1
    h_n = h_n.view(rnn.num_layers, directions, h_n.size(1), h_n.size(2))[-1]  # (directions, batch, hidden)
    return torch.cat(list(h_n), dim=-1)


class RNNPreTrainedModel(PreTrainedModel):
    """Weight initialisation and embedding access shared by every recurrent model of this package."""

    config_class = RNNClassifierConfig
    base_model_prefix = "encoder"
    main_input_name = "input_ids"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # The `init` functions skip tensors that are already set (loaded weights, pretrained vectors), so
        # GloVe vectors and checkpoints survive `post_init` and `from_pretrained`.
        if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, (nn.Linear, nn.Conv1d)):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.RNNBase):
            for name, param in module.named_parameters():
                if name.startswith("weight_ih"):
                    init.xavier_uniform_(param)
                elif name.startswith("weight_hh"):
                    init.orthogonal_(param)
                elif name.startswith("bias") and not getattr(param, "_is_hf_initialized", False):
                    init.zeros_(param)
                    if isinstance(module, nn.LSTM):  # forget gate: 1 in bias_ih and in bias_hh, 2 in all (i, f, g, o)
                        param[module.hidden_size : 2 * module.hidden_size] = 1.0
        elif isinstance(module, TokenEmbedding) and module.token_weights is not None:
            init.ones_(module.token_weights)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.base_model.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.base_model.embeddings.word_embeddings = value

    @torch.no_grad()
    def load_pretrained_embeddings(self, vectors: torch.Tensor) -> None:
        """Copy pretrained word vectors `(vocab_size, embedding_dim)` into the embedding matrix, for good."""
        weight = self.get_input_embeddings().weight
        if tuple(vectors.shape) != tuple(weight.shape):
            raise ValueError(
                f"pretrained vectors have shape {tuple(vectors.shape)}, the model expects {tuple(weight.shape)}"
            )
        weight.copy_(vectors)
        weight._is_hf_initialized = True  # later `post_init`/`init_weights` calls leave it alone

    @torch.no_grad()
    def set_token_weights(self, weights: torch.Tensor) -> None:
        """Set the fixed per-token embedding scales `(vocab_size,)`; needs `config.use_token_weights=True`."""
        buffer = self.base_model.embeddings.token_weights
        if buffer is None:
            raise ValueError("this model was built with use_token_weights=False")
        buffer.copy_(weights)
        buffer._is_hf_initialized = True


class RNNForSequenceClassification(RNNPreTrainedModel):
    """
    The task head every recurrent architecture uses: dropout and a linear classifier on the encoder's pooled
    output, with the loss chosen by `config.problem_type`. Subclasses only name their encoder in
    `base_model_class`.
    """

    base_model_class: type[RNNPreTrainedModel]

    def __init__(self, config: RNNClassifierConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.encoder = self.base_model_class(config)
        self.dropout = Dropout(config.dropout)
        self.classifier = nn.Linear(config.pooled_size, config.num_labels)
        # `save_pretrained` writes only this class and its config into `auto_map`; naming the encoder too lets a
        # saved folder load through `AutoModel` with `trust_remote_code=True` as well.
        encoder = self.base_model_class
        config.auto_map = {
            **getattr(config, "auto_map", {}),
            "AutoModel": f"{encoder.__module__.rsplit('.', 1)[-1]}.{encoder.__name__}",
        }
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> RNNSequenceClassifierOutput:
        r"""
        labels (`torch.Tensor` of shape `(batch_size,)`, or `(batch_size, num_labels)` for multi-label, *optional*):
            Targets for the loss; its kind follows `config.problem_type`.
        """
        outputs = self.encoder(input_ids, attention_mask=attention_mask, output_attentions=output_attentions)
        logits = self.classifier(self.dropout(outputs.pooler_output))  # (batch, num_labels)

        loss = None
        if labels is not None:
            loss = self.loss_function(labels=labels, pooled_logits=logits, config=self.config, **kwargs)
            if outputs.auxiliary_loss is not None:
                loss = loss + outputs.auxiliary_loss
        return RNNSequenceClassifierOutput(
            loss=loss,
            logits=logits,
            hidden_states=(outputs.last_hidden_state,) if output_hidden_states else None,
            attentions=outputs.attentions,
            auxiliary_loss=outputs.auxiliary_loss,
        )
