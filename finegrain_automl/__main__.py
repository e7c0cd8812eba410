"""``python -m finegrain_automl`` runs the ``fg-automl`` command line."""

from finegrain_automl.cli import main

main()
