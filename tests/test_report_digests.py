"""Every variant's report is what it was when its digest was recorded (see report_digests.py)."""

import pytest
from report_digests import recorded, report_digest
from variants import every_variant

import resnet_inspect as ri

DIGESTS = recorded()


def test_every_variant_has_a_digest():
    assert set(DIGESTS) == set(ri.variants()), "run: .venv/bin/python tests/report_digests.py"


@pytest.mark.parametrize("name", every_variant())
def test_the_report_is_the_recorded_one_to_the_byte(name):
    assert report_digest(name) == DIGESTS[name], (
        f"{name}'s report changed; if that is intended: .venv/bin/python tests/report_digests.py"
    )
