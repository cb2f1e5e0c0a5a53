#!/usr/bin/env python3
"""Measures emergency-stop propagation across replicas: two `tribune serve` processes share one
PostgreSQL database; a stop is made on replica A, and replica B is asked for decisions every
few milliseconds until one is denied with `stopped`. Reports, per run, the time from sending
the stop to A until B enforced it (target: under 1 s; B reads the store every 250 ms).

Usage, from the repository root, against a release build and a local PostgreSQL with trust
authentication (the database is created and dropped by the script):
    cargo build --release --bin tribune
    python3 scripts/bench-stop-replicas.py target/release/tribune [RUNS] [POSTGRES_BASE_URL]
POSTGRES_BASE_URL defaults to postgres://postgres@127.0.0.1:5432. Codes are accepted once per
30-second step, so runs after the first wait for the clock.
"""
import base64, hashlib, hmac, json, os, struct, subprocess, sys, tempfile, time, urllib.request, statistics

BIN = sys.argv[1]
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 4
PG = sys.argv[3] if len(sys.argv) > 3 else "postgres://postgres@127.0.0.1:5432"
ADMIN = "trb_stop-bench-admin-token-0123456789abcdef0123"
DB = f"tribune_stop_bench_{os.getpid()}"

subprocess.run(["psql", f"{PG}/postgres", "-qc", f"CREATE DATABASE {DB}"], check=True)
data = tempfile.mkdtemp(prefix="tribune-stop-replicas-")
env = dict(os.environ, TRIBUNE_BOOTSTRAP_TOKEN=ADMIN, TRIBUNE_LOG="warn")
servers, bases = [], []
for port in (18481, 18482):
    # Replicas share the database and the ledger key (in the shared data directory).
    servers.append(subprocess.Popen(
        [BIN, "serve", "--bundle", "examples/quickstart", "--data-dir", data, "--database-url", f"{PG}/{DB}",
         "--listen", f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    bases.append(f"http://127.0.0.1:{port}")
    # Let the first replica create the schema and the key before the second starts.
    for _ in range(200):
        try:
            with urllib.request.urlopen(bases[-1] + "/healthz") as r:
                if r.status == 200: break
        except Exception: time.sleep(0.05)

def call(base, method, path, token, body=None):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

A, B = bases

def token(kind, subject):
    return call(A, "POST", "/v1/tokens", ADMIN, {"kind": kind, "subject": subject})[1]["token"]

def totp(secret, step):
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    h = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    o = h[-1] & 15
    return "%06d" % ((struct.unpack(">I", h[o:o+4])[0] & 0x7fffffff) % 1000000)

humans = {}
for h in ["alice", "bob"]:
    t = token("human", h)
    humans[h] = [t, call(A, "POST", "/v1/mfa/enroll", t, {})[1]["secret"], None]

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
propagation_ms, polls = [], []
try:
    for i in range(RUNS):
        assert call(B, "POST", "/v1/decisions", agent, search)[1]["decision"] == "allow"
        c = code("alice")
        t0 = time.perf_counter()
        st, stop = call(A, "POST", "/v1/stops", humans["alice"][0], {"scope": "agent:support-bot", "reason": "bench", "mfa_code": c})
        assert st == 201, stop
        n = 0
        while True:
            n += 1
            d = call(B, "POST", "/v1/decisions", agent, search)[1]
            if d["reasons"] and d["reasons"][0]["code"] == "stopped":
                break
            assert time.perf_counter() - t0 < 10, "replica B never enforced the stop"
            time.sleep(0.002)
        propagation_ms.append((time.perf_counter() - t0) * 1000)
        polls.append(n)
        call(A, "POST", f"/v1/stops/{stop['id']}/resume", humans["alice"][0], {"mfa_code": code("alice")})
        call(A, "POST", f"/v1/stops/{stop['id']}/resume", humans["bob"][0], {"mfa_code": code("bob")})
        # Wait until B has seen the resume too, so the next run starts from a clean state.
        while call(B, "POST", "/v1/decisions", agent, search)[1]["decision"] != "allow":
            time.sleep(0.01)
finally:
    for s in servers:
        s.terminate(); s.wait()
    subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE {DB}"], check=False)
print(json.dumps({"runs": RUNS, "propagation_ms": [round(x, 1) for x in propagation_ms],
                  "median_ms": round(statistics.median(propagation_ms), 1), "max_ms": round(max(propagation_ms), 1),
                  "decisions_asked_of_B": polls}))
