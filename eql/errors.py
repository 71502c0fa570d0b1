"""User errors: a bad file, field, key or value, as opposed to a bug. Tools print them as one line
(``error: ...``) and exit with status 2; anything else is a bug and keeps its traceback."""


class UserError(ValueError):
    """Something the user gave is wrong; the message names the file, field or key."""


class ConfigError(UserError):
    """A config key holds a value eql cannot use; the message names the key."""


class CheckpointError(UserError):
    """A checkpoint cannot be used (unreadable, truncated, for another model); names the file."""


def report_user_errors(main):
    """Decorates a tool's ``main(argv) -> exit code``: a UserError becomes one line on stderr
    (``error: ...``) and exit code 2; other exceptions (bugs) keep their traceback."""
    import functools
    import sys

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2

    return wrapper
