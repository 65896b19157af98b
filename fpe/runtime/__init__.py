"""Infrastructure: where files live, the cache, book-wide slots, jobs, provenance, the device, and
what a computation depends on (:mod:`~fpe.runtime.deps`). Nothing here can change a recomputed number,
so this folder is outside the science hash by its place (``fpe.runtime.deps.UNHASHED``); bitwise tests
across job backends and worker counts and the quick-profile references guard it instead.
"""
