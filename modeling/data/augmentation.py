"""Text augmentation for a distillation transfer set, after Tang et al. 2019 ("Distilling Task-Specific Knowledge from
BERT into Simple Neural Networks", section 3.3): word masking and n-gram sampling. Their third rule, swapping a word
for another of the same part of speech, needs a tagger and is left out.

The copies are new texts for the teacher to label: they carry no gold label, so nothing here reads or writes labels.
"""

import random
from collections.abc import Sequence

# The word a masked word becomes. Both the word-level tokenizer (`train_word_tokenizer`) and BERT-family WordPiece
# tokenizers read the literal `[UNK]` as their one unknown-token id, so teacher and student both see "a word was here".
MASK_WORD = "[UNK]"
# Tang et al. 2019 keep a span of n words, n drawn uniformly from 1 to 5.
MAX_NGRAM = 5


def augment_text(
    text: str, rng: random.Random, mask_probability: float, ngram_probability: float, max_ngram: int = MAX_NGRAM
) -> str:
    """
    One augmented copy of `text` (words split on white space): each word becomes `[UNK]` with probability
    `mask_probability`; then, with probability `ngram_probability`, only a random span of 1 to `max_ngram`
    consecutive words is kept. Draws only from `rng`.
    """
    words = [MASK_WORD if rng.random() < mask_probability else word for word in text.split()]
    if rng.random() < ngram_probability and words:
        n = rng.randint(1, max_ngram)
        if n < len(words):
            start = rng.randint(0, len(words) - n)
            words = words[start : start + n]
    return " ".join(words)


def augment_texts(
    texts: Sequence[str],
    copies: int,
    seed: int,
    mask_probability: float = 0.1,
    ngram_probability: float = 0.25,
    max_ngram: int = MAX_NGRAM,
) -> list[str]:
    """
    `copies` augmented copies of every text (see `augment_text`), text by text: copies of `texts[0]` first. One
    generator seeded by `seed` draws them in order, so the same texts and seed give the same copies, and the copies
    of the first N texts do not change when more texts follow.
    """
    rng = random.Random(seed)
    return [
        augment_text(text, rng, mask_probability, ngram_probability, max_ngram)
        for text in texts
        for _ in range(copies)
    ]
