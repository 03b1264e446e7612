"""Digests of every registered variant's report (on meta, at its default input): a change to the tracer,
the counting rules or the report that moves any figure of any variant shows as a changed digest.

After an intended change, write them anew: ``.venv/bin/python tests/report_digests.py``."""

import hashlib
import json
import sys
from pathlib import Path

DIGESTS = Path(__file__).with_name("data") / "report_digests.json"


def report_digest(name: str) -> str:
    """SHA-256 of the report's JSON with sorted keys, the torch version left out."""
    import resnet_inspect as ri

    data = ri.inspect(name, device="meta").to_dict()
    data.pop("torch_version", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def recorded() -> dict[str, str]:
    return json.loads(DIGESTS.read_text())


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import resnet_inspect as ri

    digests = {name: report_digest(name) for name in ri.variants()}
    DIGESTS.write_text(json.dumps(digests, indent=1) + "\n")
    print(f"wrote {len(digests)} digests to {DIGESTS}")
