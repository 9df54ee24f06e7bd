"""Run every delivery report sample through our reader and through flufl.bounce.

    .venv/bin/python bench/dsn_samples.py [--verbose]

For each sample in tests/data/dsn/ (with its expectation in expected.toml) it
prints what `listkeeper.feedback.dsn.failures` finds, whether that is what the
sample's expectation says, and what flufl.bounce's `scan_message` (GNU
Mailman's detector: the permanently failing recipients) finds. Then the
figures:

- parsed: our reader ran and found what the expectation says;
- failed: our reader raised, or found something else;
- disagreements: samples where the addresses we count as failed (hard or
  soft; warnings and successes are not failures) differ from flufl.bounce's.

No database is used; it is a correctness comparison, not a timing.
"""

from __future__ import annotations

import argparse
import email
import logging
import os
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "data" / "dsn"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="print every sample's findings")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "listkeeper.settings")
    import django

    django.setup()
    logging.disable(logging.WARNING)  # flufl.bounce logs every detector it runs
    import flufl.bounce

    from listkeeper.feedback import dsn

    expected = tomllib.loads((SAMPLES / "expected.toml").read_text())
    parsed = failed = disagreements = flufl_errors = 0
    for name in sorted(expected):
        msg = email.message_from_bytes((SAMPLES / name).read_bytes())
        try:
            found = [[r.email, r.kind or "", r.status] for r in dsn.failures(msg)]
            ours_ok = _matches(found, expected[name]["failed"])
            ours = {a.lower() for a, kind, _ in found if kind}
            ours_text = ", ".join(f"{a} {k or 'warning'} {s}".strip() for a, k, s in found)
        except Exception as exc:  # noqa: BLE001 - the figure counts crashes
            ours_ok, ours, ours_text = False, set(), f"raised {exc!r}"
        try:
            theirs = {a.decode("ascii", "replace").lower() for a in flufl.bounce.scan_message(msg)}
            theirs_text = ", ".join(sorted(theirs))
        except Exception as exc:  # noqa: BLE001
            flufl_errors += 1
            theirs, theirs_text = set(), f"raised {exc!r}"
        parsed += ours_ok
        failed += not ours_ok
        agree = ours == theirs
        disagreements += not agree
        if args.verbose or not ours_ok or not agree:
            mark = ("" if ours_ok else " UNEXPECTED") + ("" if agree else " DISAGREE")
            print(f"{name} ({expected[name]['mta']}){mark}")
            print(f"    ours:  {_short(ours_text) or '-'}")
            print(f"    flufl: {_short(theirs_text) or '-'}")
    total = len(expected)
    print(
        f"{total} samples: {parsed} parsed, {failed} failed, "
        f"{disagreements} disagreements with flufl.bounce ({flufl_errors} flufl.bounce errors)"
    )
    return 1 if failed else 0


def _matches(found: list[list[str]], expected: list[list[str]] | str) -> bool:
    if isinstance(expected, str):  # "COUNT KIND STATUS"
        count, kind, status = expected.split()
        return len(found) == int(count) and {(k, s) for _, k, s in found} == {(kind, status)}
    return found == expected


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


if __name__ == "__main__":
    sys.exit(main())
