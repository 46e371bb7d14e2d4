"""Reports of a run: matplotlib figures (PNG) and one self-contained HTML page (``supernas report RUN_DIR``)."""
