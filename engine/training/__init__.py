"""Training word vectors (skip-gram and CBOW with negative sampling) from plain-text corpora.

`corpus` streams and tokenizes text files, `vocab` builds the vocabulary and sampling tables,
`kernels` holds the compiled (numba) inner loops, and `skipgram.Word2VecTrainer` ties them together.
"""
