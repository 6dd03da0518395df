"""Money is Decimal with two places, in yuan."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")  # the one way to write no money
MAX = Decimal("1000000000000")  # a trillion yuan: anything larger is a typo


def parse_amount(text: str, allow_zero: bool = False) -> Decimal:
    """Parse an amount such as "8", "8.5" or "8.50"; ValueError says what is wrong."""
    s = str(text).strip()
    if s.startswith(("¥", "￥")):
        s = s[1:].strip()
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise ValueError(f'"{text}" is not an amount; write it like 8.00') from None
    if not d.is_finite():
        raise ValueError(f'"{text}" is not an amount; write it like 8.00')
    if d < 0:
        raise ValueError(f'"{text}" is negative; amounts are in yuan and above zero')
    if d == 0 and not allow_zero:
        raise ValueError(f'"{text}" is zero; an amount must be above zero')
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)  # finite: not 'n', 'N' or 'F'
    if exponent < -2:
        raise ValueError(f'"{text}" has more than two decimal places (fen are the smallest unit)')
    if d >= MAX:
        raise ValueError(f'"{text}" is too large; amounts are below ¥{MAX:,.0f}')
    return d.quantize(CENT)


def fmt(d: Decimal) -> str:
    return f"{d.quantize(CENT)}"
