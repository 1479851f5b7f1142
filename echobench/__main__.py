"""``python -m echobench`` = the ``echobench`` command."""

from echobench.cli.main import main

main()
