"""The book's own tools: :mod:`~fpe.book.results` (recorded numbers, the verdict rule, result and
reference files), :mod:`~fpe.book.report` (generated pages), :mod:`~fpe.book.colab` (the Colab
set-up cell) and :mod:`~fpe.book.nbclean` (stripping volatile notebook metadata)."""
