"""Real data: :mod:`~fpe.datasets.loaders` (FashionMNIST, CIFAR-10, WordNet; local path first, then
the canonical download), :mod:`~fpe.datasets.encoders` (frozen pretrained encoders),
:mod:`~fpe.datasets.features` (the feature sets of the real-data chapter, embeddings cached), and the
paper's own setting for readers who can run it: :mod:`~fpe.datasets.paper_data` (CIFAR-100,
ImageNet-100) and :mod:`~fpe.datasets.clip_features` (their CLIP ViT-B/32 features)."""
