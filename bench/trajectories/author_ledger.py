# ruff: noqa: E501
"""Writes the ledger trajectories (NAME.jsonl + NAME.setup.json) of bench/effort_bench.py.

No model was available to record these: they were written by hand to look like what a
coding model emits on three typical tasks on the `ledger/` fixture project (fix a
failing test; add a feature across files; investigate a crash, with failing commands on
the way), with thinking of the length such a model writes at high effort: long when it
plans or a command failed, short on routine reads and edits. Every tool call was checked
against the fixture: the bench runs them through the real tools and they succeed or fail
as the thinking that follows says. Rerun after editing: python3 author_ledger.py
"""

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent


def call(name, **args):
    return f"[TOOL_CALLS]{name}[ARGS]{json.dumps(args)}"


def turn(think, *calls, text=""):
    raw = f"[THINK]{think.strip()}[/THINK]" if think else ""
    return raw + text + "".join(calls)


TESTS = "python3 -m unittest discover -s tests -t ."

# ---------------------------------------------------------------- fix a failing test
fix = [
    turn("""The user says the test suite fails. Before reading any code I want the actual failure: which test, which assertion, and the traceback. The README says tests run with `python3 -m unittest discover -s tests -t .`, so I'll run exactly that. Plan:
1. run the suite and read the failure;
2. read the code under test and the test itself;
3. decide whether the code or the test is wrong (the test name should tell me the intended behaviour);
4. make the smallest fix, run the whole suite again, and check the CLI still works on the sample data since money parsing feeds everything else.""",
         call("bash", command=TESTS)),
    turn("""One failure: test_one_decimal_means_tenths, `Money.parse("0.5").cents` is 5 instead of 50. So a single decimal digit is being treated as hundredths: "0.5" becomes 5 cents instead of 50. The test's name states the intent clearly (one decimal means tenths), and "0.5" meaning fifty cents is what any user would expect, so the code is wrong, not the test. Let me read money.py and the test file together.""",
         call("read_file", path="ledger/money.py"), call("read_file", path="tests/test_money.py")),
    turn("""Found it on line 29: `int(frac.rjust(2, "0") or "0")`. rjust pads on the LEFT, so "5" becomes "05" = 5 cents. For a fractional part the padding has to go on the right: "5" → "50". ljust(2, "0") does that. Check the other cases still hold with ljust:
- "12.30": frac "30" → "30" → 30, fine.
- "-4": frac "" → ljust gives "00" → 0, and the `or "0"` fallback is then dead but harmless.
- "1,234.56": frac "56" unchanged.
- "1.234" is rejected earlier by the len(frac) > 2 check, so ljust never sees three digits.
- What about "5." ? frac is "" → 0 cents, whole 5 → 500. Fine.
Is rjust used anywhere else for the same purpose? format() uses an f-string with :02d for cents, which is correct for the integer→text direction. Let me grep to be sure nothing else pads fractions.""",
         call("grep", pattern=r"rjust|ljust|:02d")),
    turn("Only the parse line pads; format uses :02d which is right. Make the one-word fix.",
         call("edit_file", path="ledger/money.py", old_string='int(frac.rjust(2, "0") or "0")',
              new_string='int(frac.ljust(2, "0") or "0")')),
    turn("Run the whole suite again.", call("bash", command=TESTS)),
    turn("All 11 tests pass. The sample data has an amount with one decimal (61.4), so check the CLI shows 61.40, not 61.04.",
         call("bash", command="python3 -m ledger.cli balance data/sample.csv")),
    turn("Groceries show 61.40 EUR and bank 1,538.60 EUR, consistent. Done.",
         text="Fixed `Money.parse`: a one-digit fractional part was padded on the left (`rjust`), so `0.5` parsed as 5 cents; it is now padded on the right (`ljust`), so `0.5` is 50 cents. The whole suite passes (11 tests) and `ledger balance data/sample.csv` now shows groceries at 61.40 EUR."),
]

# ---------------------------------------------------------------- feature across files
REPORT_CSV = '''

def balance_csv(ledger: Ledger) -> str:
    """account,kind,balance_cents: one row per account, by name (for spreadsheets)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\\n")
    writer.writerow(["account", "kind", "balance_cents"])
    for name, amount in ledger.balances().items():
        writer.writerow([name, ledger.accounts[name].kind, amount.cents])
    return buffer.getvalue()
'''
TEST_CSV = '''
    def test_csv(self):
        self.assertEqual(balance_csv(sample()), (
            "account,kind,balance_cents\\n"
            "bank,asset,-50000\\n"
            "rent,expense,50000\\n"
        ))

'''
feature = [
    turn("""Task: add `--format table|csv` to `ledger balance`, csv with header account,kind,balance_cents, plus tests. This touches the CLI (argument and dispatch), the report module (a new CSV renderer next to balance_table), and the report tests. I should look at the layout first so I put things where they belong, then read cli.py and report.py.
Design thoughts before reading:
- balance_cents as an integer avoids locale and formatting issues in spreadsheets; the money type already stores cents, so no conversion is needed.
- Use the csv module rather than joining strings, so account names with commas get quoted.
- Keep `table` the default so existing usage doesn't change.
- lineterminator: csv.writer defaults to \\r\\n; for stdout output \\n is friendlier, and tests are easier to read.""",
         call("list_files")),
    turn("Small package: ledger/{accounts,cli,money,report}.py and tests per module. Read the CLI and report module.",
         call("read_file", path="ledger/cli.py"), call("read_file", path="ledger/report.py")),
    turn("""cli.py builds one subparser `balance` with a `file` argument and writes balance_table(ledger). report.py has balance_rows (formatted strings) and balance_table. For CSV I want raw cents, not the formatted string, so balance_rows isn't the right source; I'll iterate ledger.balances() directly like balance_rows does. Let me see how the report tests build their fixture so the new test fits in.""",
         call("read_file", path="tests/test_report.py")),
    turn("""The tests use a `sample()` ledger with bank -500.00 and rent 500.00, i.e. -50000 and 50000 cents. Expected CSV for it:
account,kind,balance_cents
bank,asset,-50000
rent,expense,50000
Now add balance_csv to report.py: needs `import csv` and `import io` at the top (after the __future__ import), and the function at the end of the module.""",
         call("edit_file", path="ledger/report.py", old_string="from __future__ import annotations\n",
              new_string="from __future__ import annotations\n\nimport csv\nimport io\n"),
         call("edit_file", path="ledger/report.py",
              old_string='    return "\\n".join(lines) + "\\n"\n',
              new_string='    return "\\n".join(lines) + "\\n"\n' + REPORT_CSV)),
    turn("Now the CLI: a --format option with choices table/csv, default table, and pick the renderer.",
         call("edit_file", path="ledger/cli.py",
              old_string="from ledger.report import balance_table\n",
              new_string="from ledger.report import balance_csv, balance_table\n"),
         call("edit_file", path="ledger/cli.py",
              old_string='    balance.add_argument("file", type=Path)\n',
              new_string='    balance.add_argument("file", type=Path)\n    balance.add_argument("--format", choices=("table", "csv"), default="table",\n                         help="table (default) or csv: account,kind,balance_cents")\n'),
         call("edit_file", path="ledger/cli.py",
              old_string="    sys.stdout.write(balance_table(ledger))\n",
              new_string="    render = balance_csv if args.format == \"csv\" else balance_table\n    sys.stdout.write(render(ledger))\n")),
    turn("Add the test for balance_csv in tests/test_report.py, before the main guard.",
         call("edit_file", path="tests/test_report.py",
              old_string='\n\nif __name__ == "__main__":',
              new_string="\n" + TEST_CSV + '\nif __name__ == "__main__":')),
    turn("Run the suite.", call("bash", command=TESTS)),
    turn("""test_csv errors with NameError: name 'balance_csv' is not defined. I added the test method but not the import; the test module imports only balance_rows and balance_table from ledger.report. Fix the import line. The other tests pass, so the report module itself imports fine (csv and io are there).""",
         call("edit_file", path="tests/test_report.py",
              old_string="from ledger.report import balance_rows, balance_table\n",
              new_string="from ledger.report import balance_csv, balance_rows, balance_table\n")),
    turn("Run again.", call("bash", command=TESTS)),
    turn("12 tests pass. Try the CLI end to end with both formats.",
         call("bash", command="python3 -m ledger.cli balance data/sample.csv --format csv && python3 -m ledger.cli balance data/sample.csv")),
    turn("Both work; CSV has integer cents. Document the option in the README.",
         call("edit_file", path="README.md",
              old_string="    python3 -m ledger.cli balance data/sample.csv\n",
              new_string="    python3 -m ledger.cli balance data/sample.csv\n    python3 -m ledger.cli balance data/sample.csv --format csv   # account,kind,balance_cents\n")),
    turn("Review the whole change before finishing.", call("bash", command="git diff --stat && git status --short")),
    turn("Four files changed as intended; the untracked __pycache__ folders are bytecode from the test runs (the repo has no .gitignore), not part of the change. Done.",
         text="Added `ledger balance --format table|csv` (default `table`, unchanged output). `--format csv` prints `account,kind,balance_cents` with one row per account, written with the `csv` module so names with commas are quoted (`report.balance_csv`). New test `test_csv` in tests/test_report.py; all 12 tests pass; README shows the option."),
]

# ---------------------------------------------------------------- investigate with failing commands
TEST_BOM = '''
    def test_load_csv_with_byte_order_mark(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "excel.csv"
            path.write_text("\\ufeff" + SAMPLE, encoding="utf-8")
            ledger = load_csv(path)
        self.assertEqual(ledger.balance("bank").cents, 95790)

    def test_missing_column_is_a_clear_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bad.csv"
            path.write_text("date,account,amount\\n2024-01-01,bank,1\\n")
            with self.assertRaises(LedgerError) as caught:
                load_csv(path)
        self.assertIn("missing column(s) kind, memo", str(caught.exception))
'''
investigate = [
    turn("""The command crashes with a traceback on data/q1.csv. First reproduce it exactly as the user ran it, and read the traceback: where it is raised and with which exception. A traceback (rather than a `ledger: ...` message) means the exception isn't one the CLI catches (it only catches OSError and LedgerError), so besides the root cause there may be a second problem: bad input should produce a clear error, not a crash. Plan: reproduce, look at the input file, read the loader, form a hypothesis, verify it with a small command, fix, add a regression test, run everything.""",
         call("bash", command="python3 -m ledger.cli balance data/q1.csv")),
    turn("""KeyError: 'date', raised in load_csv at accounts.py line 89, `groups[(row["date"], row["memo"])]`. The lines before it already used row["amount"] (Money.parse) and row["account"] without failing, so those columns exist and only 'date' is missing from the row dict. 'date' is the first column of the header, so the header's first field must differ from what the code expects. Look at the raw head of the file.""",
         call("bash", command="head -3 data/q1.csv")),
    turn("""The header prints as `date,account,kind,amount,memo` — looks identical to sample.csv. So the difference is invisible: whitespace, a different delimiter would break all columns (not just date), so it's something attached to the first field only. Candidates: a UTF-8 byte order mark (Excel exports add one), or a leading space. Let me read the loader to see exactly how the file is opened.""",
         call("read_file", path="ledger/accounts.py", offset=75)),
    turn("""load_csv opens with encoding="utf-8". With plain utf-8 a BOM is decoded as the character U+FEFF and stays at the start of the first header name, so the key is '\\ufeffdate', not 'date'. That matches: only the first column is affected. Verify by printing the parsed field names.""",
         call("bash", command="python3 -c \"import csv; r = csv.DictReader(open('data/q1.csv', encoding='utf-8')); print(r.fieldnames[0]!r)\"")),
    turn("""SyntaxError: I used the f-string conversion `!r` outside an f-string. Use repr() instead.""",
         call("bash", command="python3 -c \"import csv; r = csv.DictReader(open('data/q1.csv', encoding='utf-8')); print(repr(r.fieldnames[0]))\"")),
    turn("""Confirmed: the first field name is '\\ufeffdate'. The file starts with a UTF-8 BOM. Fix: open with encoding="utf-8-sig", which strips a leading BOM if present and behaves exactly like utf-8 otherwise, so existing files are unaffected.
Second problem: a missing or misnamed column gives a raw KeyError traceback. load_csv should check the header once and raise LedgerError naming the missing columns; the CLI already turns LedgerError into `ledger: ...` with exit 1. Checking the header up front is better than catching KeyError per row, because it reports all missing columns at once and doesn't mask KeyErrors from elsewhere.
Are there other places that open files with utf-8 that could see Excel exports? Grep for open( and encoding= in the package.""",
         call("grep", pattern=r"encoding=|\.open\(", path="ledger")),
    turn("Only load_csv opens files. Apply both changes there.",
         call("edit_file", path="ledger/accounts.py",
              old_string='    with path.open(newline="", encoding="utf-8") as handle:\n        for number, row in enumerate(csv.DictReader(handle), start=2):\n',
              new_string='    # utf-8-sig: spreadsheet exports often start with a byte order mark.\n    with path.open(newline="", encoding="utf-8-sig") as handle:\n        reader = csv.DictReader(handle)\n        missing = {"date", "account", "kind", "amount", "memo"} - set(reader.fieldnames or ())\n        if missing:\n            raise LedgerError(f"{path}: missing column(s) {\', \'.join(sorted(missing))}")\n        for number, row in enumerate(reader, start=2):\n')),
    turn("Reproduce again with the user's command.", call("bash", command="python3 -m ledger.cli balance data/q1.csv")),
    turn("""It works now: four accounts with balances. Add regression tests to tests/test_accounts.py: one with a BOM-prefixed file (reusing SAMPLE, same expected bank balance 95790), and one with missing columns that expects a LedgerError naming them in sorted order ("kind, memo").""",
         call("edit_file", path="tests/test_accounts.py",
              old_string='        self.assertEqual(sorted(ledger.accounts), ["bank", "groceries", "salary"])\n',
              new_string='        self.assertEqual(sorted(ledger.accounts), ["bank", "groceries", "salary"])\n' + TEST_BOM)),
    turn("Run the suite.", call("bash", command=TESTS)),
    turn("13 tests pass. Check the missing-column message through the CLI too, on a throwaway file.",
         call("bash", command="printf 'date,account\\n' > /tmp/broken.csv; python3 -m ledger.cli balance /tmp/broken.csv; echo exit=$?")),
    turn("""`ledger: /tmp/broken.csv: missing column(s) amount, kind, memo` and exit 1: a clear message instead of a traceback. Last, review the whole diff.""",
         call("bash", command="git diff")),
    turn("The diff is what I intended. Done.",
         text="Cause: data/q1.csv starts with a UTF-8 byte order mark (as spreadsheet exports often do). `load_csv` opened files as plain `utf-8`, so the first header became `\\ufeffdate` and `row[\"date\"]` raised a KeyError, which the CLI does not catch, hence the traceback. Fix in ledger/accounts.py: open with `utf-8-sig` (strips a BOM, otherwise identical), and check the header up front so a missing column is a `LedgerError` naming the columns (`ledger: ...`, exit 1) instead of a traceback. Two regression tests added; all 13 tests pass and `ledger balance data/q1.csv` prints the balances."),
]

Q1 = "\ufeffdate,account,kind,amount,memo\n" + "".join(
    f"2024-{m:02d}-01,bank,asset,3100.00,salary {m}\n2024-{m:02d}-01,salary,income,-3100.00,salary {m}\n"
    f"2024-{m:02d}-03,rent,expense,950.00,rent {m}\n2024-{m:02d}-03,bank,asset,-950.00,rent {m}\n"
    f"2024-{m:02d}-14,groceries,expense,212.35,groceries {m}\n2024-{m:02d}-14,bank,asset,-212.35,groceries {m}\n"
    for m in (1, 2, 3))

setups = {
    "fix_failing_test": {
        "task": "The test suite fails (`python3 -m unittest discover -s tests -t .`). Find out why and fix it.",
        "repo": "ledger",
        "replace": [["ledger/money.py", 'frac.ljust(2, "0")', 'frac.rjust(2, "0")']],
        "files": {},
    },
    "add_feature": {
        "task": "Add a `--format` option to `ledger balance`: `table` (the default, as now) or `csv` (header account,kind,balance_cents; one row per account). Add tests and document it.",
        "repo": "ledger", "replace": [], "files": {},
    },
    "investigate_crash": {
        "task": "`python3 -m ledger.cli balance data/q1.csv` crashes with a traceback. Find the cause and fix it; the command should work on that file.",
        "repo": "ledger", "replace": [], "files": {"data/q1.csv": Q1},
    },
}
for name, turns in (("fix_failing_test", fix), ("add_feature", feature), ("investigate_crash", investigate)):
    (OUT / f"{name}.jsonl").write_text("".join(json.dumps({"raw": r}, ensure_ascii=False) + "\n" for r in turns))
    (OUT / f"{name}.setup.json").write_text(json.dumps(setups[name], indent=1, ensure_ascii=False) + "\n")
print("ok")
