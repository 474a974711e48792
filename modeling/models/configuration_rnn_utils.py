"""The settings every recurrent classifier in this package shares."""

from transformers import PretrainedConfig


class RNNClassifierConfig(PretrainedConfig):
    r"""
    Base configuration of the recurrent text classifiers. Each architecture subclasses it, sets its own
    `model_type` and adds the settings only it has.

    Args:
        vocab_size (`int`, *optional*, defaults to 30000):
            Size of the word vocabulary; set from the tokenizer by `scripts/train.py`.
        embedding_dim (`int`, *optional*, defaults to 300):
            Size of the word vectors (300 matches the common GloVe files).
        hidden_size (`int`, *optional*, defaults to 128):
            Size of the recurrent state, per direction.
        num_layers (`int`, *optional*, defaults to 1):
            Number of stacked recurrent layers.
        bidirectional (`bool`, *optional*, defaults to `False`):
            Whether the recurrent layers also read the text right to left.
        dropout (`float`, *optional*, defaults to 0.3):
            Dropout on the embeddings, between recurrent layers and before the classifier.
        word_dropout (`float`, *optional*, defaults to 0.0):
            In training, the probability of dropping a whole word vector (set to zero), so the model cannot lean on
            any single word and learns to cope with words it has not seen.
        use_token_weights (`bool`, *optional*, defaults to `False`):
            Scale each token's embedding by a fixed per-token weight (for example its IDF computed on the training
            split). The weights are a saved buffer, so they travel with the model.
        freeze_embeddings (`bool`, *optional*, defaults to `False`):
            Keep the embedding matrix fixed during training (useful with pretrained GloVe vectors).
        initializer_range (`float`, *optional*, defaults to 0.1):
            Standard deviation of the normal initialisation of the embedding matrix.
        pad_token_id (`int`, *optional*, defaults to 0):
            Id of the padding token; its embedding is zero and never trained.
    """

    # Small sizes under which any recurrent architecture trains in a second: for tests and quick checks.
    tiny_settings = {"embedding_dim": 16, "hidden_size": 8}

    def __init__(
        self,
        vocab_size: int = 30000,
        embedding_dim: int = 300,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.3,
        word_dropout: float = 0.0,
        use_token_weights: bool = False,
        freeze_embeddings: bool = False,
        initializer_range: float = 0.1,
        pad_token_id: int = 0,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.word_dropout = word_dropout
        self.use_token_weights = use_token_weights
        self.freeze_embeddings = freeze_embeddings
        self.initializer_range = initializer_range
        for name in ("vocab_size", "embedding_dim", "hidden_size", "num_layers"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive whole number, got {getattr(self, name)!r}")
        for name in ("dropout", "word_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    @property
    def output_size(self) -> int:
        """Width of the recurrent outputs: `hidden_size`, doubled when bidirectional."""
        return self.hidden_size * (2 if self.bidirectional else 1)

    @property
    def pooled_size(self) -> int:
        """Width of the pooled text vector the classifier reads: `output_size` unless an architecture pools more."""
        return self.output_size
