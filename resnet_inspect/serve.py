"""Serve the app: ``python -m resnet_inspect.serve [streamlit options] [-- app options]``.

``streamlit run`` imports nothing of a page until a browser connects, so the first page also waits for
torch (about a second on a small machine). Here torch and the analyzer are imported in the background
while the server starts, and are ready by the time the browser has loaded Streamlit's front end and
the page's first run begins. Everything else is ``streamlit run app.py``."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app.py"


def _warm() -> None:
    try:
        import torch

        from .analysis.analyze import inspect

        del inspect  # imported for its modules, used by the page
        # The CPU convolution's one-time setup, paid here rather than by the first page's pass.
        torch.nn.functional.conv2d(torch.zeros(1, 3, 16, 16), torch.zeros(4, 3, 3, 3), padding=1)
    except Exception:  # the page imports them again, and shows any error there
        pass


def main(argv: list[str] | None = None) -> int:
    from streamlit.web import cli

    args = list(sys.argv[1:] if argv is None else argv)
    threading.Thread(target=_warm, name="warm-up", daemon=True).start()
    return cli.main(["run", str(APP), *args], standalone_mode=False) or 0


if __name__ == "__main__":
    sys.exit(main())
