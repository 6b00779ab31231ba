#!/usr/bin/env python3
"""Check every fixture in tests/fixtures/sdk/ against the documented signature formula,
without the SDK:
  METHOD \n X-TC-Key=<secret_id>&X-TC-Nonce=<nonce>&X-TC-Timestamp=<ts> \n <uri> \n <body>
  signature = base64(lowercase hex(HMAC-SHA256(secret_key, that)))"""
import base64, glob, hashlib, hmac, json, os, sys

SECRET_ID, SECRET_KEY = "demo-secret-id", "demo-secret-key"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
bad = 0
for path in sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "sdk", "*.json"))):
    f = json.load(open(path, encoding="utf-8"))
    h = f["headers"]
    msg = (f"{f['method']}\nX-TC-Key={SECRET_ID}&X-TC-Nonce={h['X-TC-Nonce']}"
           f"&X-TC-Timestamp={h['X-TC-Timestamp']}\n{f['uri']}\n{f['body']}")
    hexsig = hmac.new(SECRET_KEY.encode(), msg.encode("utf-8"), hashlib.sha256).hexdigest()
    want = base64.b64encode(hexsig.encode()).decode()
    ok = want == h["X-TC-Signature"] and h["X-TC-Key"] == SECRET_ID
    bad += not ok
    print(f"{'OK  ' if ok else 'FAIL'} {f['case']}")
sys.exit(1 if bad else 0)
