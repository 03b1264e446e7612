import os
import sys
from pathlib import Path

import torch

# One thread per core in all: pytest-xdist's workers share the cores (two workers of two threads each on
# two cores spend much of their time waiting on each other's threads).
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, (os.cpu_count() or 1) // WORKERS)))
# The app driver (scripts/app_browser.py) is shared by the browser tests and the app benchmark.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
