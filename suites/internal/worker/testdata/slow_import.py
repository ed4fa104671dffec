"""A module whose import never finishes, as a stuck model download would."""

import time

time.sleep(3600)
