import unittest
from datetime import date

from ledger.accounts import Ledger
from ledger.money import Money
from ledger.report import balance_rows, balance_table


def sample() -> Ledger:
    ledger = Ledger()
    ledger.open("bank", "asset")
    ledger.open("rent", "expense")
    ledger.post(date(2024, 1, 1), [("bank", Money(-50000)), ("rent", Money(50000))])
    return ledger


class ReportTest(unittest.TestCase):
    def test_rows(self):
        self.assertEqual(balance_rows(sample()), [
            ("bank", "asset", "-500.00 EUR"), ("rent", "expense", "500.00 EUR")])

    def test_table_is_aligned(self):
        lines = balance_table(sample()).splitlines()
        self.assertEqual(len({len(line) for line in lines}), 1)


if __name__ == "__main__":
    unittest.main()
