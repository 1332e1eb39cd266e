"""Renderers against exact expected text for a small report built by hand (as pip-audit does),
plus the structural rules each CI consumer relies on (JUnit counts, SARIF 2.1.0 properties,
GitHub-flavoured markdown tables)."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

from markdown_it import MarkdownIt

from waypoint_doctor.checks.spec import Status, Target
from waypoint_doctor.render.evidence import evidence_line
from waypoint_doctor.render.junit import render_junit
from waypoint_doctor.render.markdown import render_markdown
from waypoint_doctor.render.sarif import render_sarif
from waypoint_doctor.render.table import render_table
from waypoint_doctor.render.whatif import render_whatif_text
from waypoint_doctor.report.model import CheckResult, FleetReport, Report, count_statuses

FIX = """Admit the waypoint at the pods:
kubectl apply -f - <<'EOF'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-waypoint
  namespace: shop
spec:
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - cluster.local/ns/shop/sa/cart-waypoint
EOF"""

CHECKS = (
    CheckResult(
        "WD102", "istiod ready with ambient enabled", "controlplane", Status.PASS, "istiod 1.28.1 is ready"
    ),
    CheckResult(
        "WD409",
        "ztunnel policies admit the waypoint",
        "policy",
        Status.FAIL,
        "the destination ztunnel denies the waypoint: no ALLOW rule names it",
        evidence=(
            {
                "kind": "Hop",
                "hop": "waypoint->workload",
                "verdict": "DENY",
                "reason": "no ALLOW rule names it",
                "policies": ["shop/allow|deny"],
            },
        ),
        remediation=FIX,
        doc="docs/checks/WD409.md",
        duration_ms=12.5,
    ),
    CheckResult(
        "WD410",
        "Effective decision table",
        "policy",
        Status.WARN,
        "1 of 2 probes allowed",
        evidence=(
            {
                "kind": "Decision",
                "principal": "cluster.local/ns/shop/sa/web",
                "method": "GET",
                "path": "/",
                "verdict": "ALLOW",
            },
            {
                "kind": "Decision",
                "principal": "cluster.local/ns/shop/sa/batch",
                "method": "GET",
                "path": "/",
                "verdict": "DENY",
                "denied_at": "waypoint->workload",
            },
        ),
        remediation="Review the rules listed.",
        doc="docs/checks/WD410.md",
    ),
    CheckResult(
        "WD505", "Traffic goes through the waypoint", "evidence", Status.SKIP, "no logs were collected"
    ),
)


def _report(checks: tuple[CheckResult, ...] = CHECKS, name: str = "cart") -> Report:
    return Report(
        tool_version="0.1.0",
        generated_at="2026-11-20T10:15:00Z",
        source={"kind": "snapshot", "path": "snap/"},
        target=Target(namespace="shop", name=name),
        checks=checks,
        score=50,
        grade="E",
        headline="Fix first: WD409 ztunnel policies admit the waypoint: "
        "the destination ztunnel denies the waypoint: no ALLOW rule names it",
        summary=count_statuses(checks),
    )


def _render(fn, report, **kw) -> str:
    out = io.StringIO()
    fn(report, out, **kw)
    return out.getvalue()


TABLE_80 = """\
waypoint-doctor Service shop/cart  source: snapshot snap/

 Status   ID      Check                  Finding
 ──────────────────────────────────────────────────────────────────────────────
                  Control plane and
                  prerequisites
 PASS     WD102   istiod ready with      istiod 1.28.1 is ready
                  ambient enabled

                  AuthorizationPolicy
 FAIL     WD409   ztunnel policies       the destination ztunnel denies the
                  admit the waypoint     waypoint: no ALLOW rule names it
 WARN     WD410   Effective decision     1 of 2 probes allowed
                  table

                  Identity and
                  evidence from logs
 SKIP     WD505   Traffic goes through   no logs were collected
                  the waypoint

FAIL WD409 ztunnel policies admit the waypoint
  the destination ztunnel denies the waypoint: no ALLOW rule names it
  • Hop: hop=waypoint->workload, verdict=DENY, policies=[shop/allow|deny]
  Fix:
    Admit the waypoint at the pods:
    kubectl apply -f - <<'EOF'
    apiVersion: security.istio.io/v1
    kind: AuthorizationPolicy
    metadata:
      name: allow-waypoint
      namespace: shop
    spec:
      action: ALLOW
      rules:
      - from:
        - source:
            principals:
            - cluster.local/ns/shop/sa/cart-waypoint
    EOF
  docs: docs/checks/WD409.md

WARN WD410 Effective decision table
  1 of 2 probes allowed
  principals: cluster.local/ns/shop/sa/…
  principal  GET /
  web        ALLOW
  batch      DENY*
  * refused by ztunnel at the pods (the caller sees a reset or 503)
  Fix:
    Review the rules listed.
  docs: docs/checks/WD410.md

Grade E  score 50/100  (1 pass, 1 warn, 1 fail, 1 skip, 0 error, 0 info)
Fix first: WD409 ztunnel policies admit the waypoint: the destination ztunnel
denies the waypoint: no ALLOW rule names it
"""


def test_table_at_80_columns() -> None:
    out = _render(render_table, _report(), width=80)
    assert out == TABLE_80
    assert max(len(line) for line in out.splitlines()) <= 80


def test_table_never_wraps_or_crops_a_command() -> None:
    long_cmd = "kubectl label service cart -n shop istio.io/use-waypoint=" + "w" * 90
    check = CheckResult(
        "WD302", "Service bound to a waypoint", "waypoint", Status.FAIL, "no label", remediation=long_cmd
    )
    out = _render(render_table, _report((check,)), width=80)
    assert "    " + long_cmd + "\n" in out


def test_table_says_when_most_checks_were_skipped() -> None:
    skipped = [
        CheckResult(f"WD2{i:02d}", "t", "enrollment", Status.SKIP, "not in the snapshot") for i in range(5)
    ]
    checks = (*skipped, CheckResult("WD101", "t", "controlplane", Status.PASS, "ok"))
    out = _render(render_table, _report(checks), width=100)
    assert "Only 1 of 6 checks could run" in out


def test_empty_fleet_says_so() -> None:
    fleet = FleetReport(
        "0.1.0", "2026-11-20T10:15:00Z", {"kind": "snapshot"}, {"namespaces": ["shop"]}, (), ()
    )
    out = _render(render_table, fleet, width=100)
    assert "No service in namespace shop is bound to a waypoint" in out


MARKDOWN = """\
# waypoint-doctor: Service shop/cart

**Grade E** (score 50/100). Fix first: WD409 ztunnel policies admit the waypoint: the destination ztunnel denies the waypoint: no ALLOW rule names it

Source: snapshot snap/; generated 2026-11-20T10:15:00Z.

| Status | ID | Check | Finding |
|---|---|---|---|
| ❌ fail | WD409 | ztunnel policies admit the waypoint | the destination ztunnel denies the waypoint: no ALLOW rule names it |
| ⚠️ warn | WD410 | Effective decision table | 1 of 2 probes allowed |

<details>
<summary>All 4 checks (1 pass, 1 warn, 1 fail, 1 skip)</summary>

| Status | ID | Check | Finding |
|---|---|---|---|
| ✅ pass | WD102 | istiod ready with ambient enabled | istiod 1.28.1 is ready |
| ❌ fail | WD409 | ztunnel policies admit the waypoint | the destination ztunnel denies the waypoint: no ALLOW rule names it |
| ⚠️ warn | WD410 | Effective decision table | 1 of 2 probes allowed |
| ⏭️ skip | WD505 | Traffic goes through the waypoint | no logs were collected |

</details>

## WD409 ztunnel policies admit the waypoint (fail)

the destination ztunnel denies the waypoint: no ALLOW rule names it

Evidence:
- `Hop: hop=waypoint->workload, verdict=DENY, policies=[shop/allow|deny]`

Fix:

Admit the waypoint at the pods:

```sh
kubectl apply -f - <<'EOF'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-waypoint
  namespace: shop
spec:
  action: ALLOW
  rules:
  - from:
    - source:
        principals:
        - cluster.local/ns/shop/sa/cart-waypoint
EOF
```

Doc: `docs/checks/WD409.md`

## WD410 Effective decision table (warn)

1 of 2 probes allowed

Evidence:
- `Decision: principal=cluster.local/ns/shop/sa/web, method=GET, path=/, verdict=ALLOW`
- `Decision: principal=cluster.local/ns/shop/sa/batch, method=GET, path=/, verdict=DENY, denied_at=waypoint->workload`

Fix:

Review the rules listed.

Doc: `docs/checks/WD410.md`
"""


def test_markdown() -> None:
    assert _render(render_markdown, _report()) == MARKDOWN


def test_markdown_tables_survive_pipes_and_newlines() -> None:
    check = CheckResult(
        "WD405",
        "Principals | syntax",
        "policy",
        Status.FAIL,
        "bad principal a|b\nsecond line `x`",
        evidence=({"kind": "AuthorizationPolicy", "name": "p", "value": "a|b `c`"},),
    )
    text = _render(render_markdown, _report((check,)))
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    rows = [i for i, t in enumerate(tokens) if t.type == "tr_open"]
    assert rows, "no table rendered"
    for i in rows:
        cells = 0
        for t in tokens[i + 1 :]:
            if t.type == "tr_close":
                break
            cells += t.type in ("td_open", "th_open")
        assert cells == 4
    # outside a table a pipe needs no escape, and a backtick must not end the code span early
    assert "- `` AuthorizationPolicy p: value=a|b `c` ``" in text


def test_junit_counts_times_and_one_suite_per_service() -> None:
    cluster = (CHECKS[0],)
    fleet = FleetReport(
        "0.1.0",
        "2026-11-20T10:15:00Z",
        {"kind": "snapshot"},
        {"namespaces": ["shop"]},
        cluster,
        (_report(CHECKS[1:], "cart"), _report(CHECKS[1:], "web")),
    )
    root = ET.fromstring(_render(render_junit, fleet))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["cluster", "shop/cart", "shop/web"]
    for suite in suites:
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
        assert int(suite.get("skipped")) == sum(1 for c in cases if c.find("skipped") is not None)
        assert suite.get("time") and suite.get("timestamp") == "2026-11-20T10:15:00"
        assert all(c.get("time") for c in cases)

    def total(root: ET.Element, attr: str) -> int:
        return sum(int(s.get(attr)) for s in root.findall("testsuite"))

    assert (total(root, "tests"), total(root, "failures"), total(root, "skipped")) == (7, 2, 2)
    assert suites[1].find("testcase").get("time") == "0.013"
    strict = ET.fromstring(_render(render_junit, fleet, fail_on_warn=True))
    assert total(strict, "failures") == 4


def test_sarif_structure() -> None:
    doc = json.loads(_render(render_sarif, _report()))
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "waypoint-doctor"
    rules = driver["rules"]
    for rule in rules:
        assert rule["id"] and rule["shortDescription"]["text"]
        assert "helpUri" not in rule or rule["helpUri"].startswith("https://")
    assert [r["ruleId"] for r in run["results"]] == ["WD409", "WD410"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        assert result["message"]["text"]


def test_sarif_file_locations_are_uris(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    finding = CheckResult(
        "WD405",
        "Principals are well formed",
        "policy",
        Status.FAIL,
        "spiffe:// prefix",
        evidence=(
            {
                "kind": "AuthorizationPolicy",
                "name": "p",
                "file": str(tmp_path / "dir with space" / "ap.yaml"),
                "line": 7,
            },
            {"kind": "AuthorizationPolicy", "name": "q", "file": "/elsewhere/ap.yaml", "line": 3},
        ),
    )
    doc = json.loads(_render(render_sarif, _report((finding,))))
    locs = doc["runs"][0]["results"][0]["locations"]
    assert locs[0]["physicalLocation"] == {
        "artifactLocation": {"uri": "dir%20with%20space/ap.yaml"},
        "region": {"startLine": 7},
    }
    assert locs[1]["physicalLocation"]["artifactLocation"]["uri"] == "file:///elsewhere/ap.yaml"


def test_evidence_line_drops_what_the_message_says_but_keeps_identifiers() -> None:
    item = {
        "kind": "AuthorizationPolicy",
        "namespace": "shop",
        "name": "p",
        "value": "spiffe://cluster.local/ns/shop/sa/web",
        "problem": "starts with spiffe://, so it never matches",
        "message": "a condition message that is long",
        "expected_message": "a condition message that is long",
    }
    message = (
        "shop/p: principal 'spiffe://cluster.local/ns/shop/sa/web' starts with spiffe://, so it never matches"
    )
    assert evidence_line(item, message) == (
        "AuthorizationPolicy shop/p: value=spiffe://cluster.local/ns/shop/sa/web, "
        "message=a condition message that is long"
    )
    assert evidence_line({"kind": "X", "v": "y" * 50}, max_value=10) == "X: v=yyyyyyyyy…"


class _WhatIf:
    def to_dict(self):
        return {
            "target": {"kind": "Service", "namespace": "shop", "name": "cart"},
            "request": {"from": "cluster.local/ns/shop/sa/web", "method": "GET", "path": "/", "port": None},
            "verdict": "ALLOW",
            "hops": [
                {
                    "hop": "client->workload",
                    "enforced_by": "ztunnel",
                    "identity_seen": "cluster.local/ns/shop/sa/web",
                    "verdict": "ALLOW",
                    "decided_by": None,
                    "reason": "no ALLOW policy applies here, so the request is allowed by default",
                }
            ],
            "explanation": "Allowed.",
        }


def test_whatif_text() -> None:
    assert _render(render_whatif_text, _WhatIf(), width=80) == (
        "ALLOW  GET / to shop/cart from cluster.local/ns/shop/sa/web\n"
        "  client->workload: ALLOW\n"
        "    enforced by ztunnel, sees cluster.local/ns/shop/sa/web\n"
        "    no ALLOW policy applies here, so the request is allowed by default\n"
        "\n"
        "Allowed.\n"
    )


def test_table_names_a_fix_already_shown_instead_of_repeating_it() -> None:
    first = CHECKS[1]
    second = CheckResult(
        "WD502",
        "ztunnel policy rejections",
        "evidence",
        Status.FAIL,
        "ztunnel rejects the waypoint",
        remediation="The pods refuse the waypoint. Admit it there:\n" + FIX.split("\n", 1)[1],
        doc="docs/checks/WD502.md",
    )
    out = _render(render_table, _report((first, second)), width=100)
    assert out.count("kind: AuthorizationPolicy") == 1
    assert "    (the same command as in the fix of WD409 above)\n" in out
