"""Reports of a run: matplotlib figures (PNG) and one self-contained HTML page
(``supernas report RUN_DIR``), and the Shadow BN diagnostics of its supernet (``supernas sbn``)."""
