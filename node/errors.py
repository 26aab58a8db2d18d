"""The one exception type a user sees as a single line (never a traceback)."""


class OrbnodeError(Exception):
    """A user's mistake or an unusable input: printed as one line, exit status 2."""
