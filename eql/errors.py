"""User errors: a bad file, field, key or value, as opposed to a bug. Tools print them as one line
(``error: ...``) and exit with status 2; anything else is a bug and keeps its traceback."""


class UserError(ValueError):
    """Something the user gave is wrong; the message names the file, field or key."""


class ConfigError(UserError):
    """A config key holds a value eql cannot use; the message names the key."""


class CheckpointError(UserError):
    """A checkpoint cannot be used (unreadable, truncated, for another model); names the file."""
