"""emtwin's benchmarks (issue 6), run from the repository's root::

    python -m benchmarks            # the full run: N up to 10⁷, about 15–25 minutes
    python -m benchmarks --quick    # small sizes, a few minutes: to check it works
    make bench                      # the full run with the project's venv

Sections (``--only``): ``em`` (emtwin's Gaussian-mixture EM against scikit-learn, per
iteration and to convergence), ``limit`` (the machine's limit for one EM iteration),
``memory`` (peak memory, fresh processes), ``map`` (PyMC MAP, cold and warm compile
cache, against EM), ``nuts`` (PyMC's NUTS against nutpie). Tables go to stdout, progress
to stderr, every number with the machine's description to ``benchmarks/results.json``.

The benchmark is a development tool, not part of the installed package: it needs
scikit-learn (the ``test`` extra) and, for nutpie, the ``bench`` extra.
"""
