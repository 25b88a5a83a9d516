"""Put this checkout's `src/` first on the import path, and quiet TensorFlow's start-up.

Every stage imports this before the library, so `python stages/<name>.py` runs under
any shell DVC uses (no `PYTHONPATH=src` prefix, which cmd.exe does not understand),
and a queued experiment, which runs in a temporary copy of the repo, imports that
copy's code rather than the workspace's or an installed one.
"""

import os
import sys
from pathlib import Path

# TensorFlow's C++ start-up notices (CPU features) drown the stages' output; a user
# who sets the variable keeps their own level.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SRC = str(Path(__file__).resolve().parents[1] / "src")
if sys.path[:1] != [SRC]:
    sys.path.insert(0, SRC)
