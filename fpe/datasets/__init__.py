"""Real data: :mod:`~fpe.datasets.loaders` (FashionMNIST, CIFAR-10, WordNet; local path first, then
the canonical download), :mod:`~fpe.datasets.encoders` (frozen pretrained encoders) and
:mod:`~fpe.datasets.features` (the feature sets of the real-data chapter, embeddings cached)."""
