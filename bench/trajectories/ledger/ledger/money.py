"""Money as an integer number of cents, so sums never drift."""

from __future__ import annotations

from dataclasses import dataclass


class MoneyError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Money:
    cents: int
    currency: str = "EUR"

    @classmethod
    def parse(cls, text: str, currency: str = "EUR") -> Money:
        """'12.30', '-4', '0.5' and '1,234.56' are all accepted."""
        cleaned = text.strip().replace(",", "")
        if not cleaned:
            raise MoneyError("empty amount")
        negative = cleaned.startswith("-")
        if negative:
            cleaned = cleaned[1:]
        whole, _, frac = cleaned.partition(".")
        if not whole.isdigit() and whole != "":
            raise MoneyError(f"not an amount: {text!r}")
        if frac and (not frac.isdigit() or len(frac) > 2):
            raise MoneyError(f"at most two decimals: {text!r}")
        cents = int(whole or "0") * 100 + int(frac.ljust(2, "0") or "0")
        return cls(-cents if negative else cents, currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.cents + other.cents, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.cents - other.cents, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.cents, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(f"cannot mix {self.currency} and {other.currency}")

    def format(self) -> str:
        sign = "-" if self.cents < 0 else ""
        whole, cents = divmod(abs(self.cents), 100)
        return f"{sign}{whole:,}.{cents:02d} {self.currency}"

    @classmethod
    def zero(cls, currency: str = "EUR") -> Money:
        return cls(0, currency)
