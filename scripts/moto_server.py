"""moto_server, plus the one CloudTrail call the tests need that moto (5.2.5) lacks:
ListPublicKeys.

CloudTrail's public keys cannot be created through any AWS API, so, like moto's own
`/moto-api/static/...` endpoints for results no API can create, a test seeds them:

    POST /moto-api/static/cloudtrail/public-keys
    {"region": "us-east-1", "PublicKeyList": [...]}   # what `aws cloudtrail list-public-keys` prints

and the real SDK client's ListPublicKeys in that region returns them (the keys whose
validity window meets StartTime..EndTime), over the wire like every other call.

Usage: the same arguments as moto_server (scripts/moto.sh starts it).
"""

import base64
import json
import sys
import threading
from datetime import datetime, timezone

import moto.moto_api._internal.urls as api_urls
from moto.cloudtrail.responses import CloudTrailResponse
from moto.moto_api._internal.responses import MotoAPIResponse
from moto.server import main

_KEYS = {}  # region -> [entry as list-public-keys prints it]
_LOCK = threading.Lock()


def _epoch(text):
    if text is None:
        return None
    if isinstance(text, (int, float)):
        return float(text)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp()


def set_public_keys(request, full_url, headers):
    body = MotoAPIResponse()._get_body(headers, request) if headers.get("Content-Length") else {}
    region = body.get("region", "us-east-1")
    keys = body.get("PublicKeyList", [])
    for k in keys:
        base64.b64decode(k["Value"], validate=True)  # a bad seed fails here, not in a test
    with _LOCK:
        _KEYS.setdefault(region, []).extend(keys)
    return 201, {}, ""


def list_public_keys(self):
    start = _epoch(self._get_param("StartTime"))
    end = _epoch(self._get_param("EndTime"))
    now = datetime.now(timezone.utc).timestamp()
    if start is None and end is None:
        start = end = now
    start = start if start is not None else float("-inf")
    end = end if end is not None else now
    out = []
    with _LOCK:
        keys = list(_KEYS.get(self.region, []))
    for k in keys:
        valid_from = _epoch(k.get("ValidityStartTime")) or float("-inf")
        valid_to = _epoch(k.get("ValidityEndTime")) or float("inf")
        if valid_from <= end and valid_to >= start:
            entry = {"Value": k["Value"], "Fingerprint": k["Fingerprint"]}
            if k.get("ValidityStartTime"):
                entry["ValidityStartTime"] = _epoch(k["ValidityStartTime"])
            if k.get("ValidityEndTime"):
                entry["ValidityEndTime"] = _epoch(k["ValidityEndTime"])
            out.append(entry)
    return json.dumps({"PublicKeyList": out})


api_urls.url_paths["{0}/moto-api/static/cloudtrail/public-keys"] = set_public_keys
CloudTrailResponse.list_public_keys = list_public_keys

if __name__ == "__main__":
    main(sys.argv[1:])
