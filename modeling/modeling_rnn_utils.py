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


def dropout(inputs: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """
    `nn.functional.dropout` with a cheaper mask on a CPU. There torch draws every mask element from its own Bernoulli
    sample, about 14 ms per million elements on two cores: a sixth of an RNN training step. This cuts 64 random bits
    from one draw into four 16-bit integers, one per element, which makes the whole dropout about five times faster,
    forward and backward. The drop probability is rounded to a multiple of 1/65536. Other devices use torch's own.
    """
    if not training or p == 0.0 or p >= 1.0 or inputs.device.type != "cpu":
        return nn.functional.dropout(inputs, p, training)
    count = inputs.numel()
    # `random_(-2**63, None)` draws all 64 bits; each 16-bit piece is then uniform over [-32768, 32767].
    draws = torch.empty((count + 3) // 4, dtype=torch.int64).random_(-(2**63), None)
    bits = draws.view(torch.int16)[:count].view(inputs.shape)
    keep = bits >= round(p * 65536) - 32768  # True with probability 1 - p
    return inputs * keep.to(inputs.dtype).mul_(1.0 / (1.0 - p))


class Dropout(nn.Dropout):
    """`nn.Dropout` through `dropout` above: the same distribution of masks, drawn faster on a CPU."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return dropout(inputs, self.p, self.training)


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
    if bool((lengths == inputs.size(1)).all()) and not slow_dropout:
        outputs, state = rnn(inputs)
        return outputs, state[0] if isinstance(state, tuple) else state
    if inputs.device.type == "cuda":
        return run_rnn_packed(rnn, inputs, lengths)
    return run_rnn_reversed(rnn, inputs, lengths)


def run_rnn_packed(rnn: nn.RNNBase, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`run_rnn` through a packed sequence: one cuDNN call for every layer and direction on a GPU."""
    packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
    packed_outputs, state = rnn(packed)
    outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=inputs.size(1))
    return outputs, state[0] if isinstance(state, tuple) else state


# The functional form of each recurrent module, for one layer in one direction: (output, h_n[, c_n]).
_RNN_FUNCTIONS = {
    nn.LSTM: lambda rnn, x, h0, params: torch.lstm(x, (h0, h0), params, rnn.bias, 1, 0.0, rnn.training, False, True),
    nn.GRU: lambda rnn, x, h0, params: torch.gru(x, h0, params, rnn.bias, 1, 0.0, rnn.training, False, True),
    nn.RNN: lambda rnn, x, h0, params: (torch.rnn_tanh if rnn.nonlinearity == "tanh" else torch.rnn_relu)(
        x, h0, params, rnn.bias, 1, 0.0, rnn.training, False, True
    ),
}


def run_rnn_reversed(
    rnn: nn.RNNBase, inputs: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """
    `run_rnn` without packing, layer by layer with the module's own weights: the forward direction reads the padded
    batch as it is (padding comes after every real token, so no output at a real token sees it); the backward
    direction reads each text reversed within its own length, padding left in place, and its outputs are put back
    in order. Same results as `run_rnn_packed`; on a CPU its backward pass is about 4 times faster, because a
    packed sequence of unequal lengths falls back to step-by-step kernels there.
    """
    batch, seq_len = inputs.shape[:2]
    positions = torch.arange(seq_len, device=inputs.device)
    real = positions < lengths[:, None]  # (batch, seq_len)
    # Reversing each text within its length is its own inverse: the same index puts outputs back in order.
    reverse = torch.where(real, lengths[:, None] - 1 - positions, positions)  # (batch, seq_len)

    def reversed_in_place(x: torch.Tensor) -> torch.Tensor:
        return x.gather(1, reverse.unsqueeze(-1).expand_as(x))

    rows, last = torch.arange(batch, device=inputs.device), lengths - 1
    recurrence = _RNN_FUNCTIONS[type(rnn)]
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if rnn.bias else ("weight_ih", "weight_hh")
    h0 = inputs.new_zeros(1, batch, rnn.hidden_size)
    layer_inputs, finals = inputs, []
    for layer in range(rnn.num_layers):
        directions = []
        for suffix in ("", "_reverse")[: 2 if rnn.bidirectional else 1]:
            params = [getattr(rnn, f"{name}_l{layer}{suffix}") for name in names]
            x = layer_inputs if suffix == "" else reversed_in_place(layer_inputs)
            outputs = recurrence(rnn, x, h0, params)[0]  # (batch, seq_len, hidden)
            finals.append(outputs[rows, last])  # the state after the text's last real token: (batch, hidden)
            directions.append(outputs if suffix == "" else reversed_in_place(outputs))
        layer_inputs = torch.cat(directions, dim=-1)  # (batch, seq_len, hidden * directions)
        if layer < rnn.num_layers - 1:
            layer_inputs = dropout(layer_inputs, rnn.dropout, rnn.training)
    outputs = layer_inputs * real.unsqueeze(-1).to(layer_inputs.dtype)  # zero at padding, as a packed run gives
    return outputs, torch.stack(finals)  # (layers * directions, batch, hidden)


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
