"""Write the bad-input corpus: ``python tests/bad_inputs/make_corpus.py [--large DIR]``.

Small cases go to tests/bad_inputs/files/ (committed; workbooks carry a timestamp, so an
existing .xlsx is only rewritten with ``--force``); ``--large DIR`` also writes the
large ones (10 MB cell, a million rows, above the limit) into DIR, which the tests
otherwise build in a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import CASES, FILES, materialize  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=Path, help="also write the large cases into this folder")
    parser.add_argument("--force", action="store_true", help="rewrite every file, workbooks included")
    args = parser.parse_args(argv)
    FILES.mkdir(parents=True, exist_ok=True)
    written = 0
    for case in CASES:
        if case.large:
            if args.large:
                args.large.mkdir(parents=True, exist_ok=True)
                print(materialize(case, args.large))
                written += 1
            continue
        written += 1
        payload = case.build()
        if not case.path.exists() or case.path.read_bytes() != payload:
            # xlsx bytes carry a timestamp: rewrite only when the content really changed
            if case.path.suffix == ".xlsx" and case.path.exists() and not args.force:
                continue
            case.path.write_bytes(payload)
    print(f"{written} files in {FILES}" + (f" and {args.large}" if args.large else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
