"""Argument checks shared by the plugin's constructors (one definition each), and
:class:`InputError`, the one base of every error the plugin raises for a bad input."""
import numbers


class InputError(ValueError):
    """An input the plugin cannot use: a config key or argument value, a tensor shape, a data
    file or a checkpoint. The message says what was expected. Tools print it as one
    ``error:`` line (``mmseg_rga.tooling.errors``); any other exception is treated as a bug."""


def is_int(value) -> bool:
    """True for Python and numpy integers, False for bools."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """Return ``int(value)``, or raise InputError naming ``name`` when it is not an int >= minimum.

    Args:
        value: the value to check.
        name: what it is, for the message (e.g. ``'in_channels'``).
        minimum: the smallest allowed value (1: positive; 0: non-negative).
    """
    if not is_int(value) or value < minimum:
        kind = 'a positive int' if minimum == 1 else f'an int >= {minimum}'
        raise InputError(f'{name} must be {kind}; got {value!r}')
    return int(value)
