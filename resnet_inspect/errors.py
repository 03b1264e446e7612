"""The one exception type for what a user did wrong.

`UserError` is a request the tool cannot carry out as asked: an unknown name, a value out of range, a
file that is not what it claims to be. The command line prints its message as one line and exits with
2; the app shows it as a message. Any other exception is a bug in the tool, reported as one (see
`resnet_inspect.cli`). It subclasses `ValueError` so that callers of the Python API who caught
`ValueError` before keep working."""

from __future__ import annotations


class UserError(ValueError):
    """A mistake in what was asked or given; the message says what and, where it can, how to fix it."""
