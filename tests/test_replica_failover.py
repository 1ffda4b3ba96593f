"""Nothing lost when the primary dies: the failover end to end, with a file replica and with an
S3 replica on moto's S3 server (tests/failover_scenario.py tells the story).

The suite runs it smaller than the storm night: 300 Starts and Stops and 600 recipients, at
200 messages/s. ``python bench/replica.py`` runs the full sizes (2,000 Starts and
Stops, 5,000 recipients) and prints the same figures.
"""

import pytest

from tests import failover_scenario
from tests.conftest import time_bound

STORM = 300
RECIPIENTS = 600
RATE = 200


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = failover_scenario.S3Server(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_failover_after_kill_loses_no_answered_start_and_finishes_the_broadcast(
        kind, request, tmp_path_factory, capsys):
    s3 = request.getfixturevalue("s3") if kind == "s3" else None
    root = tmp_path_factory.mktemp(f"failover-{kind}")
    with time_bound(240):
        figures = failover_scenario.run(kind, root, STORM, RECIPIENTS, RATE, s3=s3)
    with capsys.disabled():
        print(f"\n{kind}: {figures}")
    assert figures["lost"] == 0 and figures["missing"] == 0
    assert figures["answered"] >= STORM // 2
