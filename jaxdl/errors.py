"""The one base class of every error a user can fix.

A bad config value, an unreadable image, a dataset that is not prepared, a NaN
loss, a checkpoint of another model: each is raised as a subclass of
:class:`UserError`, whose message says what is wrong and where, on one line. The
command line (:func:`jaxdl.cli.run`) catches this one type and prints
``error: <message>`` with the class's exit code; everything else is a bug and keeps
its traceback. Each subclass also derives from the builtin it refines
(``ValueError``, ``FileNotFoundError``, ...), so library callers can catch either.

Exit codes: 1 for a user error, 2 for a config error (``ConfigError.exit_code``).
"""

from __future__ import annotations


class UserError(Exception):
    """An error the user can fix; ``str(error)`` is the message to print as-is."""

    exit_code: int = 1
