"""orbnode onboard runtime: the part that runs on the board."""

__version__ = "0.1.0"
