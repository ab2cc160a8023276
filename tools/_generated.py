"""The last step every generator under tools/ shares: with --check, exit 1 when the committed file is not what
the generator makes; else write it (only when it changed: a re-run writes nothing)."""
import sys
from pathlib import Path


def write_or_check(path, new, current, check, stale_message, stale_stream=None):
    if check:
        if new != current:
            print(stale_message, file=stale_stream or sys.stdout)
            return 1
        return 0
    if new != current:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(new)
        print("wrote %s" % path)
    return 0
