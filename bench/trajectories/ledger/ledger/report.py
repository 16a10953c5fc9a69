"""Reports: balances as an aligned text table."""

from __future__ import annotations

from ledger.accounts import Ledger


def balance_rows(ledger: Ledger) -> list[tuple[str, str, str]]:
    """(account, kind, formatted balance) for every account, by name."""
    rows = []
    for name, amount in ledger.balances().items():
        rows.append((name, ledger.accounts[name].kind, amount.format()))
    return rows


def balance_table(ledger: Ledger) -> str:
    rows = balance_rows(ledger)
    if not rows:
        return "(no accounts)\n"
    width = max(len("account"), *(len(name) for name, _, _ in rows))
    amount_width = max(len("balance"), *(len(amount) for _, _, amount in rows))
    lines = [f"{'account':<{width}}  {'kind':<9}  {'balance':>{amount_width}}"]
    for name, kind, amount in rows:
        lines.append(f"{name:<{width}}  {kind:<9}  {amount:>{amount_width}}")
    return "\n".join(lines) + "\n"
