#!/usr/bin/env python3
"""Measures emergency-stop enforcement on one node: time from sending POST /v1/stops to the
answer (the stop is in force before it), and the next decision's verdict.

Usage, from the repository root, against a release build:
    cargo build --release --bin tribune
    python3 scripts/bench-stop.py target/release/tribune [RUNS]
Each run stops the quick-start agent, checks the very next decision is denied, then resumes
with two holders (alice and bob, enrolled in TOTP by the script). Codes are accepted once per
30-second step, so runs after the first wait for the clock.
"""
import base64, hashlib, hmac, json, os, struct, subprocess, sys, tempfile, time, urllib.request, statistics

BIN = sys.argv[1]
ADMIN = "trb_stop-bench-admin-token-0123456789abcdef0123"
d = tempfile.mkdtemp(prefix="tribune-stop-bench-")
port = 18471
env = dict(os.environ, TRIBUNE_BOOTSTRAP_TOKEN=ADMIN, TRIBUNE_LOG="warn")
srv = subprocess.Popen([BIN, "serve", "--bundle", "examples/quickstart", "--data-dir", d, "--listen", f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
base = f"http://127.0.0.1:{port}"

def call(method, path, token, body=None):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

for _ in range(100):
    try:
        if call("GET", "/healthz", ADMIN)[0] == 200: break
    except Exception: time.sleep(0.1)

def token(kind, subject):
    return call("POST", "/v1/tokens", ADMIN, {"kind": kind, "subject": subject})[1]["token"]

def totp(secret, step):
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    h = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    o = h[-1] & 15
    return "%06d" % ((struct.unpack(">I", h[o:o+4])[0] & 0x7fffffff) % 1000000)

humans = {}
for h in ["alice", "bob"]:
    t = token("human", h)
    s = call("POST", "/v1/mfa/enroll", t, {})[1]["secret"]
    humans[h] = [t, s, None]

def code(h):
    t, s, last = humans[h]
    while True:
        now = int(time.time()) // 30
        want = now if last is None else max(last + 1, now)
        if want <= now + 1: break
        time.sleep(0.25)
    humans[h][2] = want
    return totp(s, want)

agent = token("agent", "support-bot")
search = {"tool": "search_docs", "arguments": {"query": "q"}}
stop_ms, next_ok = [], 0
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 4
for i in range(runs):
    assert call("POST", "/v1/decisions", agent, search)[1]["decision"] == "allow"
    c = code("alice")
    t0 = time.perf_counter()
    st, body = call("POST", "/v1/stops", humans["alice"][0], {"scope": "agent:support-bot", "reason": "bench", "mfa_code": c})
    t1 = time.perf_counter()
    assert st == 201, body
    d1 = call("POST", "/v1/decisions", agent, search)[1]
    next_ok += d1["reasons"][0]["code"] == "stopped"
    stop_ms.append((t1 - t0) * 1000)
    call("POST", f"/v1/stops/{body['id']}/resume", humans["alice"][0], {"mfa_code": code("alice")})
    call("POST", f"/v1/stops/{body['id']}/resume", humans["bob"][0], {"mfa_code": code("bob")})
srv.terminate(); srv.wait()
print(json.dumps({"runs": runs, "stop_ms": [round(x, 2) for x in stop_ms], "median_ms": round(statistics.median(stop_ms), 2), "max_ms": round(max(stop_ms), 2), "next_decision_stopped": f"{next_ok}/{runs}"}))
