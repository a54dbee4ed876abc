#!/usr/bin/env python3
"""Counts test cases across meson's JUnit reports and prints 'tests: N passed, M failed'.

meson writes one <testcase> per GoogleTest case for protocol: gtest tests, and one per test for
plain exit-code tests (the namespace integration scripts). --extra P F adds counts from runners
that have no report (fuzz smoke runs, the benchmark smoke run).
"""
import argparse
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("reports", nargs="*")
    ap.add_argument("--extra", nargs=2, type=int, action="append", default=[])
    args = ap.parse_args()
    passed = failed = skipped = 0
    for path in args.reports:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as e:
            print(f"count_junit: cannot read {path}: {e}", file=sys.stderr)
            failed += 1
            continue
        for case in root.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    for p, f in args.extra:
        passed += p
        failed += f
    line = f"tests: {passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
