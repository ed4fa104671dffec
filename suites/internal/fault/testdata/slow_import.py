"""A module whose import never finishes (a model download that hangs)."""

import sys
import time

print("loading weights from the network", file=sys.stderr, flush=True)
time.sleep(3600)
