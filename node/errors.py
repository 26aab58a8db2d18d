"""The one exception type a user sees as a single line (never a traceback)."""


class OrbnodeError(Exception):
    """A user's mistake or an unusable input: printed as one line, exit status 2."""


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message`` — how a foreign error is shown on one line."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def message_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
