import os
import sys
from pathlib import Path

import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
# The app driver (scripts/app_browser.py) is shared by the browser tests and the app benchmark.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
