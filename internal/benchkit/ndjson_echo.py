"""What a team writes instead of pyharness: os/exec this script, one JSON
object per line on stdin, one back per line on stdout (stdlib only).

The reference row of `pyharness bench`; run as python3 -c SOURCE.
"""

import json
import sys

HANDLERS = {"echo": lambda args: args}


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = {"id": request["id"], "result": HANDLERS[request["method"]](request["args"])}
        except Exception as exc:  # the caller gets the error, the loop goes on
            reply = {"id": request.get("id"), "error": repr(exc)}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
