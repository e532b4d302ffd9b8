"""The many-tenants client of bench/tenants.sh: standard library only.

    python3 tenants.py BASE_URL SECRET TENANTS_FILE PHASE [REQUESTS]

TENANTS_FILE holds "subdomain|tenant id" lines. Each request is the tenant admin's
GET /api/employees/, signed with SECRET (HS256, as `mosaic token issue` signs), one
at a time on one kept-alive connection, so each latency is one request's own and no
queue hides it. PHASE:
  touch  every tenant once, in order (its first request: a cold slot, and on SQLite
         its module-data file opened);
  zipf   2 × REQUESTS requests, the tenant drawn from a Zipf distribution (s = 1.1,
         the first tenants hottest): the first half warms up, and the latencies of
         the 10 hottest tenants in the second half are reported, with how many
         distinct tenants each half hit (each tenant's first request: a cold slot).
Prints one JSON object: the phase, the number of requests, p50 and p99 in ms.
"""

import base64
import bisect
import hashlib
import hmac
import http.client
import json
import random
import sys
import time
import urllib.parse


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(secret: str, tenant_id: str) -> str:
    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({
        "sub": "bench", "tenant": tenant_id, "role": "TENANT_ADMIN",
        "iat": now, "exp": now + 3600, "jti": f"bench-{tenant_id}",
    }).encode())
    signature = hmac.new(secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64(signature)}"


def percentile(samples, q):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * q))]


def main():
    base, secret, tenants_file, phase = sys.argv[1:5]
    requests = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    tenants = [line.strip().split("|") for line in open(tenants_file) if line.strip()]
    tokens = {sub: token(secret, tid) for sub, tid in tenants}
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port)

    def get(subdomain):
        started = time.perf_counter()
        conn.request("GET", "/api/employees/", headers={
            "Authorization": f"Bearer {tokens[subdomain]}", "X-Tenant-ID": subdomain})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"{subdomain}: {response.status}")
        return (time.perf_counter() - started) * 1000

    if phase == "touch":
        latencies = [get(sub) for sub, _ in tenants]
    else:
        weights = [1 / (rank ** 1.1) for rank in range(1, len(tenants) + 1)]
        cumulative, total = [], 0.0
        for w in weights:
            total += w
            cumulative.append(total)
        rng = random.Random(7)
        hot = {sub for sub, _ in tenants[:10]}
        latencies, seen, cold = [], set(), [0, 0]
        for i in range(2 * requests):
            sub = tenants[bisect.bisect(cumulative, rng.random() * total)][0]
            measured = i >= requests
            if sub not in seen:
                seen.add(sub)
                cold[measured] += 1
            latency = get(sub)
            if measured and sub in hot:
                latencies.append(latency)
        print(json.dumps({"phase": phase, "cold_warmup": cold[0], "cold_measured": cold[1]}),
              file=sys.stderr)
    print(json.dumps({
        "phase": phase, "requests": len(latencies),
        "p50_ms": round(percentile(latencies, 0.5), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
    }))


main()
