"""A small double-entry ledger: money amounts, accounts, postings and reports."""

from ledger.accounts import Account, Ledger, Posting
from ledger.money import Money

__all__ = ["Account", "Ledger", "Money", "Posting"]
