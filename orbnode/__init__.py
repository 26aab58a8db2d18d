"""orbnode's roof: the command line, `orbnode run` orchestration and board deployment.

Everything here sits on the libraries below it (``node``, ``firmware_stubs``,
``radiation``, ``bench``) and nothing below imports it.
"""

from node import __version__

__all__ = ["__version__"]
