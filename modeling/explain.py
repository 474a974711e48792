"""Token attributions by integrated gradients, for every model type, through Captum's `LayerIntegratedGradients`.

Captum does the path integral; this module adds the choices a text classifier needs around it: the baseline text
(every token but [CLS] and [SEP] replaced by [PAD] or [UNK]), one score per token (the attribution summed over the
embedding dimensions), and the completeness check (Sundararajan et al. 2017): the scores must add up to the
difference between the explained logit at the text and at the baseline.

The attributions cover what flows through the word embeddings. What a model reads from the ids by another way
(attn_bilstm's optional n-gram bag) stays as in the text along the whole path, so it is in neither the scores nor
the logit difference they are checked against.
"""

import argparse
from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .errors import UserInputError
from .export import require_deploy
from .models.configuration_rnn_utils import RNNClassifierConfig

METHODS = ("attention", "integrated_gradients")
BASELINES = ("pad", "unk")
DEFAULT_STEPS = 50
# The completeness check passes when the scores' sum is within this share of the logit difference they explain (or
# within COMPLETENESS_FLOOR of it, in logits, where the difference is near 0 and only rounding is left to compare).
COMPLETENESS_TOLERANCE, COMPLETENESS_FLOOR = 0.05, 1e-3
# A text that fails it is explained again with twice the steps, at most this many times (so with up to 4x the steps):
# Gauss-Legendre points can miss a sharp turn of the path (a briefly fine-tuned BERT missed by 8% at 50, 0.2% at 100).
MAX_DOUBLINGS = 2


def add_explain_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags scripts/predict.py takes to choose and tune the explanation --explain draws."""
    parser.add_argument(
        "--method",
        choices=METHODS,
        default=None,
        help="What --explain draws: attention (the attention weights of attn_bilstm, BERT and DistilBERT) or "
        "integrated_gradients (each token's share of the predicted label's logit, any model type). Default: "
        "attention where the model has attention weights, integrated_gradients otherwise.",
    )
    parser.add_argument(
        "--ig_steps",
        type=int,
        default=DEFAULT_STEPS,
        help=f"Integrated gradients: points on the path from the baseline to the text (default {DEFAULT_STEPS}); "
        "more steps cost time and bring the scores' sum closer to the logit difference. A text whose scores miss "
        f"that difference by more than {COMPLETENESS_TOLERANCE * 100:g}%% is explained again with twice the steps, "
        f"up to {2**MAX_DOUBLINGS}x.",
    )
    parser.add_argument(
        "--ig_baseline",
        choices=BASELINES,
        default="pad",
        help="Integrated gradients: the text every token is compared with, each token but [CLS] and [SEP] replaced "
        "by [PAD] (default; a zero vector in the recurrent models) or by [UNK].",
    )


def default_method(model: PreTrainedModel) -> str:
    """Attention where the model returns attention weights (attn_bilstm, transformers); else integrated gradients."""
    without_attention = isinstance(model.config, RNNClassifierConfig) and model.config.model_type != "attn_bilstm"
    return "integrated_gradients" if without_attention else "attention"


def baseline_ids(input_ids: torch.Tensor, tokenizer: PreTrainedTokenizerBase, baseline: str) -> torch.Tensor:
    """`input_ids` with every token but [CLS] and [SEP] replaced by the baseline token ([PAD] or [UNK])."""
    token_id = tokenizer.pad_token_id if baseline == "pad" else tokenizer.unk_token_id
    if token_id is None:
        raise UserInputError(f"the tokenizer has no {baseline} token; choose another --ig_baseline")
    kept = torch.zeros_like(input_ids, dtype=torch.bool)
    for special in (tokenizer.cls_token_id, tokenizer.sep_token_id):
        if special is not None:
            kept |= input_ids == special
    return torch.where(kept, input_ids, torch.full_like(input_ids, token_id))


@dataclass
class Attribution:
    """One text's integrated gradients for the logit of `target`."""

    scores: np.ndarray  # (seq_len,): each token's attribution, summed over the embedding dimensions
    target: int
    logit: float  # the target's logit at the text
    baseline_logit: float  # at the baseline, the rest of the model's inputs as in the text
    completeness_error: float  # |sum(scores) - (logit - baseline_logit)| / |logit - baseline_logit|
    steps: int  # the points on the path the scores were computed with

    @property
    def complete(self) -> bool:
        """Whether the scores pass the completeness check (see COMPLETENESS_TOLERANCE)."""
        difference = self.logit - self.baseline_logit
        gap = abs(float(self.scores.sum()) - difference)
        return gap <= max(COMPLETENESS_TOLERANCE * abs(difference), COMPLETENESS_FLOOR)


def integrated_gradients(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    target: int,
    tokenizer: PreTrainedTokenizerBase,
    steps: int = DEFAULT_STEPS,
    baseline: str = "pad",
    max_doublings: int = MAX_DOUBLINGS,
) -> Attribution:
    """
    Integrated gradients of one text's `target` logit over the model's word-embedding layer.

    Args:
        input_ids, attention_mask: one text, `(1, seq_len)`, on the model's device.
        target: the class whose logit is explained (usually the predicted one).
        steps: points of Captum's Gauss-Legendre rule along the path.
        baseline: "pad" or "unk", see `baseline_ids`.
        max_doublings: while the scores fail the completeness check, compute them again with twice the steps, at
            most this many times (0: never).
    """
    captum_attr = require_deploy("captum.attr", "--method integrated_gradients")
    layer = model.get_input_embeddings()

    def logits(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return model(input_ids=ids, attention_mask=mask).logits  # (batch, num_labels)

    reference = baseline_ids(input_ids, tokenizer, baseline)
    with torch.no_grad():
        logit = float(logits(input_ids, attention_mask)[0, target])
        # The path's start: the baseline's word embeddings, every other input as in the text (see the module's note).
        baseline_vectors = layer(reference)
        hook = layer.register_forward_hook(lambda module, inputs, output: baseline_vectors)
        try:
            baseline_logit = float(logits(input_ids, attention_mask)[0, target])
        finally:
            hook.remove()
    difference = logit - baseline_logit
    explainer = captum_attr.LayerIntegratedGradients(logits, layer)
    for _ in range(max_doublings + 1):
        with torch.enable_grad():
            attributions = explainer.attribute(
                input_ids,
                baselines=reference,
                target=target,
                additional_forward_args=(attention_mask,),
                n_steps=steps,
                internal_batch_size=min(steps, 64),
            )  # (1, seq_len, embedding_dim)
        scores = attributions.sum(-1)[0].detach().float().cpu().numpy()  # (seq_len,)
        error = abs(float(scores.sum()) - difference) / max(abs(difference), 1e-8)
        attribution = Attribution(scores, target, logit, baseline_logit, error, steps)
        if attribution.complete:
            break
        steps *= 2
    return attribution
