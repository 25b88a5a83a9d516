"""Put this checkout's `src/` first on the import path.

Every stage imports this before the library, so `python stages/<name>.py` runs under
any shell DVC uses (no `PYTHONPATH=src` prefix, which cmd.exe does not understand),
and a queued experiment, which runs in a temporary copy of the repo, imports that
copy's code rather than the workspace's or an installed one.
"""

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
if sys.path[:1] != [SRC]:
    sys.path.insert(0, SRC)
