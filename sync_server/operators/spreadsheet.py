"""Cells of a CSV export that a spreadsheet will not run as a formula.

Audit events hold text an attacker typed (a failed login's username). Excel, LibreOffice
and Google Sheets evaluate a cell starting with ``=``, ``+``, ``-`` or ``@`` (and, after
trimming, a tab or carriage return) as a formula: ``=HYPERLINK(...)`` in the exported file
becomes a link that leaks data or runs a command on the administrator's machine. OWASP's
advice: prefix such a cell with a single quote, which the spreadsheet shows as text.
"""

from __future__ import annotations

#: The first characters a spreadsheet reads as the start of a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(cell: object) -> str:
    """``cell`` as text, with a leading ``'`` if a spreadsheet would read it as a formula."""
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text
