"""The book's own tools (the top layer; outside the science hash): :mod:`~fpe.book.results` (recorded
numbers, result and reference files), :mod:`~fpe.book.verdicts` (the verdict rule),
:mod:`~fpe.book.claims` (the paper's claims), :mod:`~fpe.book.report` (generated pages),
:mod:`~fpe.book.plot` (figures), :mod:`~fpe.book.jobreport` (the build's job report),
:mod:`~fpe.book.colab` (the Colab set-up cell) and :mod:`~fpe.book.nbclean` (stripping volatile
notebook metadata)."""
