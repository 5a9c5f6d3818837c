"""Messy exports as a membership system (or Excel) writes them, made by the tests.

Dates are relative to the demo's today (2026-11-02), so the guard rails'
day counts are exact.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

TODAY = date(2026, 11, 2)


def us(days_ago: int) -> str:
    """MM/DD/YYYY, ``days_ago`` days before today."""
    return (TODAY - timedelta(days=days_ago)).strftime("%m/%d/%Y")


def eu(days_ago: int) -> str:
    """DD.MM.YYYY."""
    return (TODAY - timedelta(days=days_ago)).strftime("%d.%m.%Y")


def iso(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).isoformat()


def excel(days_ago: int) -> str:
    """An Excel serial day number."""
    return str((TODAY - timedelta(days=days_ago) - date(1899, 12, 30)).days)


MEMBERS_HEADER = ["Member ID", "First Name", "Last Name", "E-mail", "Mobile", "Membership", "Status", "Join Date",
                  "Last Visit", "Balance Due", "Past Due Since", "Opt Out", "Notes"]

# Who is who (the workflows must act on exactly these people):
#   M100 José Müller   65 days / $1,234.56 past due, final notice 10 days ago -> collections, door suspended
#   M101 Zoë Ångström  20 days / $80 past due -> final notice, door suspended
#   M102 Bob Smith      8 days / $30 past due -> reminder (too little, too soon for a lockout)
#   M103 Ana Paid       paid up, door suspended -> door restored
#   M104 Frida Frozen   on hold, owes $3,000 -> nothing, ever
#   M105 Carl Cancelled cancelled, owes $2,750 -> nothing, ever
#   M106 Pia Visits     pay per visit, green, not seen for 60 days
#   M107 Rita Referrer  her referral R1 joined 10 days ago -> reward
#   M108 Sam Joined     joined through R1
#   M109 Gone Member    90 days / $500 past due, leaves the second export -> excluded from every act
MEMBERS = [
    ["M100", "José", "Müller", "jose@example.com", "555-0100", "Monthly", "Past Due", us(400), us(3), "$1,234.56",
     us(65), "no", "Prefers mornings.\nAsked about the sauna."],
    ["M101", "Zoë", "Ångström", "zoe@example.com", "555-0101", "Monthly", "Active", us(300), us(25), "$80.00",
     us(20), "no", ""],
    ["M102", "Bob", "Smith", "bob@example.com", "555-0102", "Annual", "Active", us(200), us(1), "30", us(8), "no",
     ""],
    ["M103", "Ana", "Paid", "ana@example.com", "555-0103", "Monthly", "Active", us(500), us(2), "$0.00", "", "no", ""],
    ["M104", "Frida", "Frozen", "frida@example.com", "555-0104", "Monthly", "On Hold", us(500), us(100),
     "$3,000.00", us(120), "no", ""],
    ["M105", "Carl", "Cancelled", "carl@example.com", "555-0105", "Monthly", "Cancelled", us(700), us(200),
     "$2,750.00", us(150), "no", ""],
    ["M106", "Pia", "Visits", "pia@example.com", "555-0106", "Drop-in", "Active", us(100), us(60), "", "", "no", ""],
    ["M107", "Rita", "Referrer", "rita@example.com", "555-0107", "Monthly", "Active", us(800), us(4), "(12.00)", "",
     "no", ""],
    ["M108", "Sam", "Joined", "sam@example.com", "555-0108", "Monthly", "Active", us(10), us(1), "", "", "no", ""],
    ["M109", "Gone", "Member", "gone@example.com", "555-0109", "Monthly", "Active", us(900), us(95), "$500.00",
     us(90), "no", ""],
]


def write(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def csv_text(rows: list[list[str]], delimiter: str = ",", newline: str = "\r\n") -> str:
    def cell(value: str) -> str:
        if any(ch in value for ch in (delimiter, '"', "\n", "\r")):
            return '"' + value.replace('"', '""') + '"'
        return value

    return "".join(delimiter.join(cell(v) for v in row) + newline for row in rows)


def members_export(folder: Path, name: str = "members.csv") -> Path:
    """UTF-8 with a BOM, semicolons, US dates, quoted newlines, a duplicate ID, a blank line, a totals row."""
    rows = [MEMBERS_HEADER, *MEMBERS[:5]]
    rows.append(["M103", "Ana", "Again", "", "", "Monthly", "Active", us(1), "", "", "", "", ""])  # line 8: duplicate
    rows += [[""] * len(MEMBERS_HEADER), *MEMBERS[5:]]
    rows.append(["Total", "", "", "", "", "", "", "", "", "$5,618.56", "", "", ""])
    return write(folder / name, "\ufeff" + csv_text(rows, ";"), "utf-8")


def members_export_v2(folder: Path, name: str = "members-2.csv") -> Path:
    """The next day's export in cp1252 with commas and European dates: M102's balance changed, M109 gone, the
    duplicate fixed, and M101 opted in again after the console recorded her STOP."""
    header = MEMBERS_HEADER
    rows = [header]
    for row in MEMBERS:
        if row[0] == "M109":
            continue
        row = list(row)
        for index in (7, 8, 10):
            if row[index]:
                month, day, year = row[index].split("/")
                row[index] = f"{day}.{month}.{year}"
        if row[0] == "M102":
            row[9] = "$45.50"
        rows.append(row)
    rows.append(["Grand Total", "", "", "", "", "", "", "", "", "5,132.06", "", "", ""])
    return write(folder / name, csv_text(rows, ","), "cp1252")


def invoices_export(folder: Path) -> Path:
    """Tabs, ISO and Excel dates, an invoice for an unknown member, a duplicate invoice ID, a large amount."""
    rows = [["Invoice #", "Member ID", "Invoice Date", "Due Date", "Total", "Status", "Item"],
            ["INV-1", "M100", iso(70), iso(65), "$1,234.56", "Past Due", "Dues"],
            ["INV-2", "M101", excel(25), excel(20), "80.00", "Open", "Dues"],
            ["INV-3", "M102", iso(10), iso(8), "30", "Unpaid", "Dues"],
            ["INV-4", "M999", iso(5), iso(1), "64", "Open", "Dues"],         # line 5: unknown member
            ["INV-5", "M106", iso(5), iso(1), "$2,400.00", "Paid", "Annual prepay"],
            ["INV-5", "M106", iso(4), iso(1), "$2,400.00", "Paid", "Annual prepay"],  # line 7: duplicate ID
            ["INV-6", "M107", iso(6), iso(1), "$64.00", "Paid", "Dues"],
            ["INV-7", "M107", iso(6), iso(1), "$64.00", "Paid", "Dues"],     # same member, amount, day: a duplicate bill
            ["INV-8", "M108", iso(6), iso(1), "$750.00", "Paid", "Personal training"]]
    return write(folder / "invoices.csv", csv_text(rows, "\t", "\n"), "utf-8")


def prospects_export(folder: Path) -> Path:
    rows = [["Lead ID", "First Name", "Last Name", "Email", "Phone", "Lead Source", "Lead Status", "Date Added",
             "Last Contact"]]
    for n in range(12):
        rows.append([f"L{n}", f"Lead{n}", "Prospect", f"lead{n}@example.com", f"555-02{n:02d}", "web",
                     "Tour" if n % 2 else "Lead", us(30 + n), us(40) if n == 3 else ""])
    rows.append(["L99", "Lost", "Cause", "lost@example.com", "", "web", "Not Interested", us(50), ""])
    return write(folder / "prospects.csv", csv_text(rows), "utf-16")


def door_export(folder: Path) -> Path:
    rows = [["Member ID", "Card Number", "Access"],
            *[[f"M{n}", f"B-{n}", "Enabled"] for n in range(100, 110) if n != 103],
            ["M103", "B-103", "Disabled"]]
    return write(folder / "door.csv", csv_text(rows), "utf-8")


def referrals_export(folder: Path) -> Path:
    rows = [["Referral ID", "Referrer Member ID", "Referred Name", "Referred Member ID", "Referral Date", "Joined On",
             "Status"],
            ["R1", "M107", "Sam Joined", "M108", us(30), us(10), "Converted"],
            ["R2", "M109", "Friend Of Gone", "", us(20), us(5), "Converted"],
            ["R3", "M106", "Not Yet", "", us(5), "", "Pending"]]
    return write(folder / "referrals.csv", csv_text(rows), "utf-8")


def payments_export(folder: Path) -> Path:
    rows = [["Transaction ID", "Member ID", "Invoice Number", "Amount Paid", "Payment Date", "Payment Method"],
            ["P1", "M106", "INV-6", "$64.00", us(5), "card"],
            ["P2", "M107", "INV-6", "64.00", us(5), "cash"]]
    return write(folder / "payments.csv", csv_text(rows), "utf-8")


def training_export(folder: Path) -> Path:
    rows = [["Client ID", "Member ID", "Coach", "Package", "Sessions Left", "Amount Due", "Past Due Since", "Status"],
            ["PT1", "M102", "Jo Park", "10 sessions", "4", "$120.00", us(12), "Active"]]
    return write(folder / "training.csv", csv_text(rows), "utf-8")
