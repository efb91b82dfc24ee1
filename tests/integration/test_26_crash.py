"""26 Crash test of durable storage (issue 7), the short version: a few rounds of kill -9 and restart on the
same store while persistent publishers (QoS 1 and 2, MQTT 3.1.1 and 5) and subscribers (some always online,
some coming and going) keep traffic flowing; then everything drains. Nothing the broker acknowledged
(PUBACK, PUBREC) may be lost for any subscriber; a QoS 2 message never arrives twice at QoS 2; any other
second copy carries DUP=1 or is the publisher's own resend. The long version is scripts/crash-test; the
driver is crashtest.py; on failure its report names each lost message with every send of it against the kills,
what the store held after that kill (a copy is kept per kill), the broker log around it, and the seed (which
repeats the random draws, not the timing)."""
import pytest

import crashtest
import mqttraw as m
from conftest import broker_bin


def check(res):
    print(res.summary())
    report = res.report()
    assert res.counts.get("lost", 0) == 0, report
    dups = res.counts.get("dups", {})
    assert dups.get("qos2_twice", 0) == 0, report
    assert dups.get("unflagged", 0) == 0, report
    assert res.exit_code == 0, report
    assert res.ok, report
    assert res.rounds >= 1 and res.counts["acknowledged"] > 0, report


@pytest.mark.midge_only
def test_kill9_rounds_lose_nothing(tmp_path):
    """5 rounds of SIGKILL after 0.3-2 s up: the default mix of 4 publishers and 4 subscribers."""
    check(crashtest.run(bin=broker_bin(), rounds=5, workdir=str(tmp_path), drain_timeout=30,
                        snapshots=True))


@pytest.mark.midge_only
def test_kill9_soon_after_restart(tmp_path):
    """Kills 0.1-0.5 s after each restart, so that they land while clients reconnect and resend and while
    queued messages go out to subscribers back online; faster publishers, wider windows."""
    check(crashtest.run(bin=broker_bin(), rounds=6, min_up=0.1, max_up=0.5, rate=400, window=20,
                        workdir=str(tmp_path), drain_timeout=30, snapshots=True,
                        subscribers=[("s0", 2, m.MQTT5, False), ("s1", 2, m.MQTT311, True),
                                     ("s2", 1, m.MQTT5, True)]))
