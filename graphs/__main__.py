"""`python -m graphs`: the council's command line, also installed as `compliance-council`."""

import sys

from graphs.cli import main

if __name__ == "__main__":
    sys.exit(main())
