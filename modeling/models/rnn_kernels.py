"""CPU fast paths for the recurrent models: a cheaper dropout mask and a backward direction read without packing.

Both give the same results as the plain torch code (the same distribution of dropout masks; the same outputs as a
packed sequence) and exist only for speed on a CPU, measured in docs/performance.md. `run_rnn_reversed` calls the
functional recurrences (`torch.lstm`, `torch.gru`, `torch.rnn_tanh`) by their positional signatures, which torch does
not document: where a torch version lacks them, `has_fast_recurrence` is false and `run_rnn` falls back to packing.
"""

import torch
from torch import nn


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


# The functional form of each recurrent module, for one layer in one direction: (output, h_n[, c_n]). Looked up when
# called, so that a torch without these private functions fails `has_fast_recurrence` instead of the import.
_RNN_FUNCTIONS = {
    nn.LSTM: lambda rnn, x, h0, params: torch.lstm(x, (h0, h0), params, rnn.bias, 1, 0.0, rnn.training, False, True),
    nn.GRU: lambda rnn, x, h0, params: torch.gru(x, h0, params, rnn.bias, 1, 0.0, rnn.training, False, True),
    nn.RNN: lambda rnn, x, h0, params: (torch.rnn_tanh if rnn.nonlinearity == "tanh" else torch.rnn_relu)(
        x, h0, params, rnn.bias, 1, 0.0, rnn.training, False, True
    ),
}
_RNN_FUNCTION_NAMES = {nn.LSTM: ("lstm",), nn.GRU: ("gru",), nn.RNN: ("rnn_tanh", "rnn_relu")}


def has_fast_recurrence(rnn: nn.RNNBase) -> bool:
    """Whether this torch has the functional recurrence `run_rnn_reversed` calls for `rnn`'s cell type."""
    names = _RNN_FUNCTION_NAMES.get(type(rnn))
    return names is not None and all(callable(getattr(torch, name, None)) for name in names)


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
