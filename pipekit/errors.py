"""Errors a user can act on: the CLI prints their message as one sentence, with no traceback."""


class UserError(Exception):
    """Bad input or a state the user must fix; the message says what and how."""

    exit_code = 2
