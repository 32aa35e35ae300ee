"""Counts the program supplies for the roofline (the ``roofline_modelled`` component).

    from rankscope.bundle import marker
    from rankscope.roofline import count

    with marker(["wall_clock", "roofline_modelled"], key="matmul"):
        c = a @ b
        count(flops=2 * n**3, bytes=3 * n * n * 8)

The counts go to every region running on this thread that carries ``roofline_modelled``
(metrics ``flops.modelled`` and ``bytes.modelled``; a parent includes its children's). Counts
supplied while no such region runs are recorded nowhere, and the first time that happens a
warning on stderr says so and how to fix it.
"""

from __future__ import annotations

import operator

from .. import _native


def _whole(name: str, value: object) -> int:
    """``value`` as a whole number >= 0 (ints, numpy integers, and floats without a fraction,
    such as ``2e9``), or an error naming the argument and what was expected."""
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(
                f"rankscope.roofline.count: {name} must be a whole number >= 0, got {value!r}"
            )
        value = int(value)
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(
            f"rankscope.roofline.count: {name} must be a whole number >= 0, "
            f"got {value!r} ({type(value).__name__})"
        ) from None
    if number < 0 or number >= 2**64:
        raise ValueError(
            f"rankscope.roofline.count: {name} must be a whole number from 0 to 2**64 - 1, "
            f"got {number}"
        )
    return number


def count(flops: int = 0, bytes: int = 0) -> None:
    """Adds ``flops`` floating-point operations (an FMA is 2) and ``bytes`` bytes moved to the
    regions running on this thread that carry the ``roofline_modelled`` component."""
    if type(flops) is not int or type(bytes) is not int:
        flops, bytes = _whole("flops", flops), _whole("bytes", bytes)
    try:
        _native.roofline_count(flops, bytes)
    except OverflowError:
        # Plain ints go straight to the native call; out of range, the check says which.
        _native.roofline_count(_whole("flops", flops), _whole("bytes", bytes))
