"""``python -m skewless``: the same as the ``skewless`` command."""

from skewless.cli import main

if __name__ == "__main__":
    main()
