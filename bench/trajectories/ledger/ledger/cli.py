"""python3 -m ledger.cli balance FILE.csv"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ledger.accounts import LedgerError, load_csv
from ledger.report import balance_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ledger")
    commands = parser.add_subparsers(dest="command", required=True)
    balance = commands.add_parser("balance", help="print every account's balance")
    balance.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    try:
        ledger = load_csv(args.file)
    except (OSError, LedgerError) as exc:
        print(f"ledger: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(balance_table(ledger))
    return 0


if __name__ == "__main__":
    sys.exit(main())
