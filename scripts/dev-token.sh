#!/usr/bin/env bash
# Prints an unsigned Firebase-emulator ID token for the given user id, accepted by the API only
# while FIREBASE_AUTH_EMULATOR_HOST is set (as `make dev` does).
set -euo pipefail
sub="${1:?usage: dev-token.sh <user-id>}"
project="${FIREBASE_PROJECT_ID:-djinn-dev}"
python3 - "$sub" "$project" <<'PY'
import base64, json, sys, time
sub, project = sys.argv[1], sys.argv[2]
def b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()
now = int(time.time())
claims = {"iss": f"https://securetoken.google.com/{project}", "aud": project, "sub": sub,
          "user_id": sub, "iat": now, "auth_time": now, "exp": now + 3600}
print(f'{b64({"alg": "none", "typ": "JWT"})}.{b64(claims)}.')
PY
