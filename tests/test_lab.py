"""The lab's captures: real glibc and musl resolvers, dnsmasq, kube-proxy's DNAT, faults.

- The captures committed under samples/lab/captures: exact findings against the golden
  file beside each (``<capture>.expected.json``, as test_detectors.py does for
  samples/crafted; regenerate with DNSPCAP_UPDATE_GOLDEN=1 after a reviewed change), and
  the lab's own patterns (samples/lab/expectations.py).
- A fresh lab run: scripts/test.sh runs ``samples/lab/run.py`` as root before pytest and
  sets DNSPCAP_LAB_OUT; every capture it made must match its pattern (IDs, ports and
  timestamps differ on every run, so these are patterns, not goldens). Under CI=true
  a missing lab run fails; elsewhere it is skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import dnspcap

from .test_detectors import findings, projection

LAB = Path(__file__).resolve().parent.parent / "samples" / "lab"
CAPTURES = sorted((LAB / "captures").glob("*.pcap"))


def _load(name: str) -> ModuleType:
    """A module of samples/lab (not a package: run.py is run as a script)."""
    spec = importlib.util.spec_from_file_location(f"dnspcap_lab_{name}", LAB / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


expectations = _load("expectations")
scenarios = _load("scenarios")
# capture stem -> its scenario (not by prefix: "blackhole" is a prefix of "blackhole-go")
SCENARIO_OF = {f"{s.name}{c.suffix}": s.name for s in scenarios.SCENARIOS for c in s.captures}
FRESH_STEMS = list(SCENARIO_OF)


# --- the committed captures -----------------------------------------------------------
def test_committed_captures_are_there_and_small() -> None:
    assert len(CAPTURES) >= 19
    assert sum(p.stat().st_size for p in CAPTURES) < 1_000_000
    made = {s.name for s in scenarios.SCENARIOS}
    assert made <= {p.stem for p in CAPTURES}, "one capture per scenario"


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_committed_capture_matches_golden_file(path: Path) -> None:
    golden = path.with_suffix(".expected.json")
    got = projection(findings(path))
    if os.environ.get("DNSPCAP_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(got, indent=2) + "\n")
    assert got == json.loads(golden.read_text())


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_committed_capture_matches_its_pattern(path: Path) -> None:
    pattern = expectations.pattern_for(path.stem)
    assert pattern is not None, f"no pattern for {path.stem} in samples/lab/expectations.py"
    problems, _ = expectations.verify(path, pattern)
    assert problems == []


@pytest.mark.parametrize("name", ["healthy-glibc", "healthy-musl", "single-request", "use-vc"])
def test_healthy_lab_traffic_triggers_nothing(name: str) -> None:
    assert findings(LAB / "captures" / f"{name}.pcap") == []


def test_race_seen_from_the_node_is_pinned_on_the_node() -> None:
    pod = {f.code: f for f in findings(LAB / "captures" / "race-glibc.pcap")}
    node = {f.code: f for f in findings(LAB / "captures" / "race-glibc-node.pcap")}
    assert pod["DNS001"].details["dropped_before_dnat"] == 0  # a pod capture cannot tell
    assert node["DNS001"].details["dropped_before_dnat"] == 2
    assert node["DNS001"].summary.endswith("dropped on this node")


def test_node_capture_counts_each_query_once() -> None:
    # every pod query is seen twice on the node, before and after DNAT
    pod = {f.code: f for f in findings(LAB / "captures" / "race-glibc.pcap")}
    node = {f.code: f for f in findings(LAB / "captures" / "race-glibc-node.pcap")}
    assert (node["DNS001"].occurrences, node["DNS001"].seen) == (2, 4)
    assert (pod["DNS001"].occurrences, pod["DNS001"].seen) == (2, 4)
    down = findings(LAB / "captures" / "dns-pod-down-node.pcap")
    assert sorted(f.code for f in down) == ["DNS004", "DNS006"]  # one each, not per address


def test_musl_queries_to_every_nameserver_are_not_dnat_copies() -> None:
    # musl sends one query, one ID, to each nameserver at once; the first is dead here
    report = dnspcap.analyze(LAB / "captures" / "first-nameserver-dead.pcap")
    tx = report.transactions
    assert (tx["nat_peer"] == -1).all() and (tx["copy_of"] == -1).all()
    assert list(report.lookups["outcome"].astype(str)) == ["answered"] * 3
    node = dnspcap.analyze(LAB / "captures" / "race-glibc-node.pcap").transactions
    assert (node["copy_of"] >= 0).sum() == (node["nat_peer"] >= 0).sum() // 2 > 0
    copies = node[node["copy_of"] >= 0]
    assert set(copies["server"].astype(str)) == {"10.244.0.5"}  # the endpoint, after DNAT


def test_mixed_glibc_and_musl_retries_name_both_timeouts() -> None:
    found = {f.code: f for f in findings(LAB / "captures" / "blackhole.pcap")}
    retries = found["DNS004"]
    assert retries.details["gaps_s"] == {"2.50": 2, "5.00": 2}
    assert "2.50 s (2x, musl default) and 5.00 s (2x, glibc/Go default)" in retries.summary


def test_glibc_and_musl_retry_gaps_are_the_measured_ones() -> None:
    glibc = {f.code: f for f in findings(LAB / "captures" / "race-glibc.pcap")}
    musl = {f.code: f for f in findings(LAB / "captures" / "race-musl.pcap")}
    assert glibc["DNS004"].details["typical_gap_s"] == pytest.approx(5.0, abs=0.05)
    assert musl["DNS004"].details["typical_gap_s"] == pytest.approx(2.5, abs=0.05)
    options = {f.code: f for f in findings(LAB / "captures" / "timeout1-attempts3.pcap")}
    assert options["DNS004"].details["typical_gap_s"] == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(("resolver", "retry_s"), [("glibc", 5.0), ("musl", 2.5)])
def test_vantage_captures_show_where_the_raced_aaaa_was_lost(resolver: str, retry_s: float) -> None:
    # one run seen at once in the pod, the node and the DNS pod (one clock): a raced AAAA
    # left the pod, reached the node, and got past DNAT only when resent
    vantage = LAB / "captures" / "vantage"
    tx = {
        where: dnspcap.analyze(vantage / f"race-{resolver}-{where}.pcap").transactions
        for where in ("pod", "node", "dns")
    }
    sent = {}  # (port, id) -> when the DNS pod should first see it
    for row in tx["pod"][tx["pod"]["qtype"] == "AAAA"].itertuples():
        gaps = list(row.retry_gaps)
        sent[(row.client_port, row.id)] = row.query_ts.value / 1e9 + sum(gaps)
        if gaps:
            assert gaps == [pytest.approx(retry_s, abs=0.05)]
    assert len(sent) == 4 and sum(1 for t in tx["pod"]["retry_gaps"] if len(t)) == 2

    def arrivals(df: Any) -> dict[tuple[int, int], float]:
        rows = df[(df["qtype"] == "AAAA") & (df["server"] == "10.244.0.5")]
        return {(r.client_port, r.id): r.query_ts.value / 1e9 for r in rows.itertuples()}

    for where in ("node", "dns"):  # after DNAT: the lost AAAAs only at their resend
        got = arrivals(tx[where])
        assert set(got) == set(sent)
        for key, when in sent.items():
            assert got[key] == pytest.approx(when, abs=0.05), (where, key)


# --- analyzer bugs the lab found (see samples/README.md); strict: a fix turns them red --
def test_kubernetes_default_is_one_lookup_with_one_wasted_step() -> None:
    report = dnspcap.analyze(LAB / "captures" / "ndots-search.pcap")
    lk = report.lookups
    row = lk[lk["name"] == "kubernetes.default"]
    assert list(row["outcome"].astype(str)) == ["answered"]
    assert list(row["search_queries"]) == [2]
    assert "kubernetes" not in set(lk["name"])


def test_forwarding_loop_repeats_are_not_retransmissions() -> None:
    # the storm repeats one ID every 0.1 ms after the client's 1 s retry set it off
    found = findings(LAB / "captures" / "forwarding-loop.pcap")
    for f in found:
        if f.code == "DNS004":
            assert f.details["retries"] < 10, f.summary
            assert f.details["typical_gap_s"] == pytest.approx(1.0, abs=0.05)


def test_use_vc_lookups_are_not_taken_for_musl() -> None:
    report = dnspcap.analyze(LAB / "captures" / "use-vc.pcap")
    assert "musl" not in set(report.lookups["resolver"].astype(str))


# --- a fresh lab run ------------------------------------------------------------------
def _fresh_dir() -> Path:
    out = os.environ.get("DNSPCAP_LAB_OUT")
    if not out:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no lab run: scripts/test.sh runs samples/lab/run.py as root")
        pytest.skip("no fresh lab run: as root, `python samples/lab/run.py --out DIR` then "
                    "DNSPCAP_LAB_OUT=DIR")  # fmt: skip
    return Path(out)


def _client_records(out: Path) -> dict[str, list[dict[str, Any]]]:
    path = out / "lab.json"
    if not path.exists():
        return {}
    return {s["scenario"]: s.get("clients", []) for s in json.loads(path.read_text())["scenarios"]}


@pytest.mark.slow
@pytest.mark.parametrize("stem", FRESH_STEMS)
def test_fresh_lab_capture_matches_its_pattern(stem: str) -> None:
    out = _fresh_dir()
    path = out / f"{stem}.pcap"
    assert path.exists(), f"the lab made no {path.name}: see {out}/logs and {out}/lab.json"
    clients = _client_records(out).get(SCENARIO_OF[stem])
    problems, found = expectations.verify(path, expectations.pattern_for(stem), clients)
    assert problems == [], found


# --- what the real resolvers showed, as lookups --------------------------------------------
def _lookups(name: str) -> Any:
    return dnspcap.analyze(LAB / "captures" / f"{name}.pcap").lookups


def test_single_request_reopen_is_glibc_not_go() -> None:
    lk = _lookups("single-request-reopen")
    assert set(lk["resolver"].astype(str)) == {"glibc"} and set(lk["sockets"]) == {2}
    assert all("single-request-reopen" in e for e in lk["resolver_evidence"])


def test_glibc_new_socket_round_after_a_timeout_joins_its_lookup() -> None:
    # every AAAA dropped: in turn on the same socket at +5 s, from new sockets at +10 s
    lk = _lookups("aaaa-dropped-glibc")
    row = lk[lk["name"] == "api.example.com"]
    assert len(row) == 1
    assert (row["sockets"].iat[0], row["queries"].iat[0]) == (3, 6)
    assert row["time_lost_to_retries"].iat[0] == pytest.approx(10.0, abs=0.05)
    assert row["outcome"].iat[0] == "answered"  # glibc returns the A records


def test_musl_fails_the_lookup_when_one_question_times_out() -> None:
    lk = _lookups("aaaa-dropped-musl")
    row = lk[lk["name"] == "api.example.com"]
    assert list(row["outcome"].astype(str)) == ["timed_out"]  # getaddrinfo: EAI_AGAIN


def test_truncated_answers_glibc_over_tcp_musl_uses_what_fit() -> None:
    lk = _lookups("truncated-tcp")
    big = lk[lk["name"] == "big.example.com"]
    assert list(big["transactions"]) == [4, 4]  # UDP pair + TCP pair, one lookup each
    assert set(big["resolver"].astype(str)) == {"glibc"}
    assert set(big["outcome"].astype(str)) == {"answered"}
    large = lk[lk["name"] == "large.example.com"]
    assert list(large["resolver"].astype(str)) == ["musl"]
    assert list(large["outcome"].astype(str)) == ["answered"]  # the 29 records that fit


def test_real_glibc_and_musl_lookups_pair_and_group_as_issue_3_asks() -> None:
    # same-socket pairs grouped; retries joined with their resolver's gap
    race = _lookups("race-glibc")
    assert list(race["queries"]) == [2, 4, 2, 4] and set(race["sockets"]) == {1}
    retried = race[race["retransmissions"] > 0]
    # glibc's switch to sending A and AAAA in turn after the timeout is seen
    assert all("A and AAAA sent in turn on one socket" in e for e in retried["resolver_evidence"])
    assert all("retry after 5 s" in e for e in retried["resolver_evidence"])
    musl = _lookups("race-musl")
    assert set(musl["resolver"].astype(str)) == {"musl"}
    assert all(
        "retry after 2.5 s" in e for e in musl[musl["retransmissions"] > 0].resolver_evidence
    )
    # the ndots:5 chain for api.example.com: one lookup, 6 NXDOMAIN queries wasted
    chain = _lookups("ndots-search")
    api = chain[chain["name"] == "api.example.com"]
    assert len(api) == 1
    assert (api["queries"].iat[0], api["search_queries"].iat[0]) == (8, 6)
    assert api["final_name"].iat[0] == "api.example.com"


def test_dead_first_nameserver_shows_the_failover_delay() -> None:
    # glibc waits its 5 s timeout on the dead 169.254.20.10, then asks the VIP; musl asks
    # both at once and does not wait
    found = {f.code: f for f in findings(LAB / "captures" / "first-nameserver-dead.pcap")}
    dead = found["DNS006"]
    assert dead.servers == ("169.254.20.10",)
    assert dead.details["failover_delay_s"] == pytest.approx(5.0, abs=0.05)
    assert dead.seconds_lost == pytest.approx(5.0, abs=0.05)
    assert "1 lookup waited 5.0 s for it before failing over" in dead.summary
