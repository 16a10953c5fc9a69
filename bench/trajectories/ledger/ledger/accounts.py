"""Accounts and postings; a ledger checks that every transaction balances."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ledger.money import Money, MoneyError

KINDS = ("asset", "liability", "income", "expense", "equity")


class LedgerError(ValueError):
    pass


@dataclass(frozen=True)
class Account:
    name: str
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise LedgerError(f"unknown account kind {self.kind!r} for {self.name}")


@dataclass(frozen=True)
class Posting:
    day: date
    account: str
    amount: Money
    memo: str = ""


@dataclass
class Ledger:
    accounts: dict[str, Account] = field(default_factory=dict)
    postings: list[Posting] = field(default_factory=list)

    def open(self, name: str, kind: str) -> Account:
        if name in self.accounts:
            raise LedgerError(f"account {name} already exists")
        account = Account(name, kind)
        self.accounts[name] = account
        return account

    def post(self, day: date, lines: list[tuple[str, Money]], memo: str = "") -> None:
        """One transaction: its lines must sum to zero."""
        total = Money.zero(lines[0][1].currency if lines else "EUR")
        for name, amount in lines:
            if name not in self.accounts:
                raise LedgerError(f"no account named {name}")
            total = total + amount
        if total.cents != 0:
            raise LedgerError(f"transaction on {day} does not balance: {total.format()}")
        for name, amount in lines:
            self.postings.append(Posting(day, name, amount, memo))

    def balance(self, name: str, until: date | None = None) -> Money:
        result = Money.zero()
        for posting in self.postings:
            if posting.account == name and (until is None or posting.day <= until):
                result = result + posting.amount
        return result

    def balances(self) -> dict[str, Money]:
        totals: dict[str, Money] = defaultdict(Money.zero)
        for posting in self.postings:
            totals[posting.account] = totals[posting.account] + posting.amount
        return {name: totals[name] for name in sorted(self.accounts)}


def load_csv(path: Path) -> Ledger:
    """Rows: date,account,kind,amount,memo; rows sharing a date and memo are one
    transaction."""
    ledger = Ledger()
    groups: dict[tuple[str, str], list[tuple[str, Money]]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            try:
                amount = Money.parse(row["amount"])
            except MoneyError as exc:
                raise LedgerError(f"{path}:{number}: {exc}") from exc
            if row["account"] not in ledger.accounts:
                ledger.open(row["account"], row["kind"])
            groups[(row["date"], row["memo"])].append((row["account"], amount))
    for (day, memo), lines in groups.items():
        ledger.post(date.fromisoformat(day), lines, memo)
    return ledger
