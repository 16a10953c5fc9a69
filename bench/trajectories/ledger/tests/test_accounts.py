import tempfile
import unittest
from datetime import date
from pathlib import Path

from ledger.accounts import Ledger, LedgerError, load_csv
from ledger.money import Money

SAMPLE = """date,account,kind,amount,memo
2024-01-02,bank,asset,1000.00,salary
2024-01-02,salary,income,-1000.00,salary
2024-01-05,groceries,expense,42.10,shop
2024-01-05,bank,asset,-42.10,shop
"""


class LedgerTest(unittest.TestCase):
    def test_balanced_transactions_only(self):
        ledger = Ledger()
        ledger.open("bank", "asset")
        ledger.open("rent", "expense")
        ledger.post(date(2024, 1, 1), [("bank", Money(-500)), ("rent", Money(500))])
        with self.assertRaises(LedgerError):
            ledger.post(date(2024, 1, 2), [("bank", Money(-1)), ("rent", Money(2))])
        self.assertEqual(ledger.balance("bank").cents, -500)

    def test_load_csv(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "l.csv"
            path.write_text(SAMPLE)
            ledger = load_csv(path)
        self.assertEqual(ledger.balance("bank").cents, 95790)
        self.assertEqual(sorted(ledger.accounts), ["bank", "groceries", "salary"])


if __name__ == "__main__":
    unittest.main()
