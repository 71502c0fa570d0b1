"""Numeric command-line options of eql's tools, checked by argparse with the rules of config keys
(eql/utils/config_keys.py): an option is an integer or a finite number in its range, never NaN or
infinity, and 0 is a value, never "the default" (an option with a default computed later is
None when not given). A bad value is argparse's one-line error naming the option, exit 2.

    p.add_argument("--iterations", type=count, default=None)
    p.add_argument("--lr", type=positive_number, default=0.1)
"""

import argparse
from typing import Tuple

from .config_keys import Key


def number_type(kind: type, rule: str = "any", also: Tuple = (), suffix: str = ""):
    """An argparse ``type``: the option's text as ``kind`` (int or float), refused unless it
    obeys ``rule`` (or is one of ``also``: (value, meaning) pairs); ``suffix`` is a unit the text
    may end with (``2x``). The Key is kept on the function (``.key``), so that tests can walk
    every numeric option of every tool."""
    key = Key("", kind, rule, also=also)

    def parse(text: str):
        number = text[: -len(suffix)] if suffix and text.endswith(suffix) else text
        try:
            value = kind(number)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {key.describe()}, got {text!r}") from None
        if not key.allows(value):
            raise argparse.ArgumentTypeError(f"must be {key.describe()}, got {text!r}")
        return value

    parse.key = key
    parse.__name__ = f"{kind.__name__} {rule}"
    return parse


count = number_type(int, ">= 1")  # iterations, images, classes, seeds, ...
nonnegative_int = number_type(int, ">= 0")  # a seed, a number of workers, warm-up steps
positive_number = number_type(float, "> 0")  # a learning rate, a ratio
fraction = number_type(float, "[0, 1]")
multiple = number_type(int, ">= 1", suffix="x")  # a schedule multiple: 2 or 2x
