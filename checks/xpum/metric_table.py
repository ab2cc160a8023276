"""``python -m checks.xpum.metric_table --markdown``: print the metric units table (for docs/api.md,
between ``<!-- metric-table:start -->`` and ``<!-- metric-table:end -->``)."""

import sys

from checks.xpum.metrics import markdown


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["--markdown"]:
        print("usage: python -m checks.xpum.metric_table --markdown", file=sys.stderr)
        return 2
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
