import sys

from xpu_ops.cli import main

sys.exit(main())
