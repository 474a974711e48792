"""Pretrained word vectors (GloVe text format) and TF-IDF token weights for the recurrent models' embeddings."""

from pathlib import Path

import numpy as np
import torch
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import TfidfTransformer

from ..errors import UserInputError


def read_glove_vectors(path: str | Path, vocab: dict[str, int], initial: torch.Tensor) -> tuple[torch.Tensor, int]:
    """
    Fill the rows of `initial` `(vocab_size, dim)` whose word is in a GloVe-format text file (`word v1 ... vdim`
    per line; a word2vec `count dim` header line is skipped). Words the file lacks keep their initial vectors.

    Returns the matrix and how many vocabulary words the file covered.
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"GloVe file {path} does not exist")
    vectors = initial.detach().clone()
    dim = vectors.size(1)
    found, checked = 0, False
    with path.open(encoding="utf-8", errors="strict") as handle:
        for line_number, line in enumerate(handle, 1):
            word, *values = line.rstrip("\n").rstrip(" ").split(" ")
            if line_number == 1 and len(values) == 1:
                continue  # word2vec header
            if checked and len(values) > dim:
                # Once the first vector has shown the file's width, a longer line is a word holding spaces (the
                # Common Crawl glove.840B.300d has a few, such as ". . ."): the vector is its last `dim` fields.
                word, values = " ".join([word, *values[:-dim]]), values[-dim:]
            if len(values) != dim:
                raise UserInputError(
                    f"{path}:{line_number}: a {len(values)}-dimensional vector, but the model's embedding_dim is "
                    f"{dim}; pass --config_overrides embedding_dim={len(values)}"
                )
            checked = True
            index = vocab.get(word)
            if index is not None:
                vectors[index] = torch.tensor(np.asarray(values, dtype=np.float32))
                found += 1
    return vectors, found


def tfidf_token_weights(input_ids: list[list[int]], vocab_size: int) -> torch.Tensor:
    """
    Per-token IDF weights `(vocab_size,)` from the training texts (scikit-learn's smoothed IDF), scaled so that the
    average weight over the training tokens is 1: frequent words are damped, rare ones stressed, and the overall
    embedding scale is kept.
    """
    rows = np.repeat(np.arange(len(input_ids)), [len(ids) for ids in input_ids])
    columns = np.concatenate([np.asarray(ids, dtype=np.int64) for ids in input_ids])
    counts = csr_matrix((np.ones(len(columns)), (rows, columns)), shape=(len(input_ids), vocab_size))
    idf = TfidfTransformer(smooth_idf=True).fit(counts).idf_
    token_frequency = np.bincount(columns, minlength=vocab_size)
    idf = idf / (idf * token_frequency).sum() * token_frequency.sum()
    return torch.tensor(idf, dtype=torch.float32)
