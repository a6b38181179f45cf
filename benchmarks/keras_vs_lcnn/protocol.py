"""The line protocol between compare.py and a worker: one JSON request in, one JSON reply out."""

from __future__ import annotations

import json
import os
import sys
from typing import Callable


def serve(handle: Callable[[dict], dict]) -> None:
    """Handle JSON requests from stdin until ``{"cmd": "quit"}``, sending library output to stderr."""
    reply_stream = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    for line in sys.stdin:
        request = json.loads(line)
        if request["cmd"] == "quit":
            break
        reply_stream.write(json.dumps(handle(request)) + "\n")
