"""``python -m sockdemo``: see ``sockdemo.cli``."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
