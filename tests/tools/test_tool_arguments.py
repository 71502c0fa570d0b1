"""Every numeric option of every script (tools/, benchmarks/, datasets/) is parsed by one of the
shared argparse types (eql/utils/arguments.py), and each refuses NaN, infinities and the values
outside its rule with argparse's one-line error naming the option; 0 is a value, never "the
default"."""

import argparse
import glob
import math
import os

import pytest
from common import REPO, load_script

SCRIPTS = sorted(
    os.path.relpath(p, REPO)
    for folder in ("tools", "benchmarks", "datasets")
    for p in glob.glob(os.path.join(REPO, folder, "*.py"))
)
WALK = ("nan", "inf", "-inf", "0", "-1", "0.5", "2")
# docs/robustness.md's rows -> the test of each (tests/robustness/test_robustness.py checks)
ROBUSTNESS_CASES = {
    "A01-every-script-has-a-parser": "test_every_script_has_an_argument_parser",
    "A02-numeric-options-use-shared-types": "test_numeric_options_use_the_shared_types",
    "A03-every-numeric-option-walked": "test_walk_every_numeric_option",
}


def _parser(script):
    module = load_script(script)
    assert hasattr(module, "argument_parser"), f"{script}: no argument_parser()"
    return module.argument_parser()


def _numeric_actions(parser):
    for action in parser._actions:  # argparse keeps no public list of its actions
        if action.help == argparse.SUPPRESS or action.type is None:
            continue
        yield action


def test_every_script_has_an_argument_parser():
    assert len(SCRIPTS) >= 15
    for script in SCRIPTS:
        _parser(script)


@pytest.mark.parametrize("script", SCRIPTS)
def test_numeric_options_use_the_shared_types(script):
    for action in _numeric_actions(_parser(script)):
        assert action.type not in (int, float), (script, action.option_strings)
        assert hasattr(action.type, "key"), (script, action.option_strings, action.type)


@pytest.mark.parametrize("script", SCRIPTS)
def test_walk_every_numeric_option(script, capsys):
    """NaN, +-inf, 0, -1, a fraction and 2 for each option: refused with one line naming the
    option, or accepted exactly when the option's rule allows the value."""
    parser = _parser(script)
    for action in _numeric_actions(parser):
        option = action.option_strings[0] if action.option_strings else action.dest
        key = action.type.key
        for text in WALK:
            try:
                value = action.type(text)
            except argparse.ArgumentTypeError as e:
                assert "\n" not in str(e) and f"'{text}'" in str(e)
                assert not _allowed(key, text), (script, option, text)
                continue
            assert _allowed(key, text) and math.isfinite(value), (script, option, text)
        if action.option_strings:  # through the parser: argparse's one error line
            with pytest.raises(SystemExit) as e:
                parser.parse_args([option, "nan"])
            assert e.value.code == 2
            err = capsys.readouterr().err
            assert f"error: argument {option}" in err.splitlines()[-1], err


def _allowed(key, text) -> bool:
    try:
        value = key.kind(text)
    except ValueError:
        return False
    return key.allows(value)


def test_a_unit_suffix_is_the_number_without_it():
    from eql.utils.arguments import multiple

    assert (multiple("2x"), multiple("3"), multiple("1x")) == (2, 3, 1)
    for text in ("x", "2xx", "0x", "-1x", "nanx", "infx", "1.5x", "x2"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"got '{text}'"):
            multiple(text)
