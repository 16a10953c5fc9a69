import unittest

from ledger.money import Money, MoneyError


class ParseTest(unittest.TestCase):
    def test_whole_and_cents(self):
        self.assertEqual(Money.parse("12.30").cents, 1230)
        self.assertEqual(Money.parse("-4").cents, -400)

    def test_one_decimal_means_tenths(self):
        self.assertEqual(Money.parse("0.5").cents, 50)
        self.assertEqual(Money.parse("1.5").cents, 150)

    def test_thousands_separator(self):
        self.assertEqual(Money.parse("1,234.56").cents, 123456)

    def test_rejects_garbage(self):
        for text in ("", "abc", "1.234", "1.2.3"):
            with self.assertRaises(MoneyError):
                Money.parse(text)


class ArithmeticTest(unittest.TestCase):
    def test_add_sub_neg(self):
        a, b = Money(150), Money(75)
        self.assertEqual((a + b).cents, 225)
        self.assertEqual((a - b).cents, 75)
        self.assertEqual((-a).cents, -150)

    def test_currencies_do_not_mix(self):
        with self.assertRaises(MoneyError):
            Money(1, "EUR") + Money(1, "USD")

    def test_format(self):
        self.assertEqual(Money(123456).format(), "1,234.56 EUR")
        self.assertEqual(Money(-5).format(), "-0.05 EUR")


if __name__ == "__main__":
    unittest.main()
