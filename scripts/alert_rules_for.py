#!/usr/bin/env python3
"""Copy Prometheus rule files with every alert's ``for:`` replaced, and nothing else changed.

The live alert test (tests/e2e/test_prometheus_alerts.py) loads deploy/observability/alerts.yml
as shipped except for this: waiting the production ``for:`` durations (1-15 minutes) would make
the test take an hour. Expressions, thresholds, range windows, labels and annotations are kept.

    python scripts/alert_rules_for.py --for 2s deploy/observability/alerts.yml -o /tmp/alerts.yml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml


def override_for(text: str, duration: str) -> str:
    """``text``: a rule file; every alerting rule gets ``for: duration`` (recording rules,
    which have no ``for``, are left as they are)."""
    doc = yaml.safe_load(text)
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = duration
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rule_file", type=Path)
    parser.add_argument("--for", dest="duration", required=True, help="e.g. 2s")
    parser.add_argument("-o", "--output", type=Path, help="default: stdout")
    args = parser.parse_args(argv)
    out = override_for(args.rule_file.read_text(), args.duration)
    if args.output:
        args.output.write_text(out)
    else:
        sys.stdout.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
