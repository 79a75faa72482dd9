"""The AWS CLI's own digest validation, as a cross-check of trailhouse's (issue 18).

    awscli_digests.py check DIR KEYS   # every digest under DIR, validated by awscli's
                                       # Sha256RSADigestValidator with the key list KEYS
                                       # (list-public-keys JSON) and the .signature sidecar:
                                       # one JSON line per digest, {"key", "valid", "error"}
    awscli_digests.py sign DIR         # signs hourly digests for the log files under DIR
                                       # the way CloudTrail does, with a new key, using the
                                       # validator's own string-to-sign; writes .signature
                                       # sidecars and DIR/public-keys.json

The signer is ours, built on that module's conventions (awscli has no signer); the check is
awscli's code unchanged.
"""
import base64
import gzip
import hashlib
import json
import pathlib
import sys

import rsa
from awscli.customizations.cloudtrail.validation import DigestError, Sha256RSADigestValidator


def keys_under(root):
    return sorted(str(p.relative_to(root)).replace("\\", "/") for p in root.rglob("*.json.gz"))


def check(root, keys_file):
    keys = {k["Fingerprint"]: k["Value"] for k in json.loads(pathlib.Path(keys_file).read_text())["PublicKeyList"]}
    validator = Sha256RSADigestValidator()
    for key in keys_under(root):
        if "/CloudTrail-Digest/" not in key:
            continue
        inflated = gzip.decompress((root / key).read_bytes())
        data = json.loads(inflated)
        data["_signature"] = (root / (key + ".signature")).read_text().strip()
        try:
            validator.validate("trail-bucket", key, keys[data["digestPublicKeyFingerprint"]], data, inflated)
            print(json.dumps({"key": key, "valid": True}))
        except (DigestError, ValueError) as e:
            print(json.dumps({"key": key, "valid": False, "error": str(e)}))


def sign(root):
    public, private = rsa.newkeys(2048)
    der = public.save_pkcs1(format="DER")
    fingerprint = hashlib.md5(der).hexdigest()
    validator = Sha256RSADigestValidator()
    chains = {}
    for key in keys_under(root):
        parts = key.split("/")
        if "CloudTrail" not in parts:
            continue
        i = parts.index("CloudTrail")
        account, region = parts[i - 1], parts[i + 1]
        stamp = parts[-1].split("_")[3]  # 20261102T0105Z
        chains.setdefault((account, region, "/".join(parts[:i])), {}).setdefault(stamp[:11], []).append(key)
    for (account, region, prefix), hours in chains.items():
        previous = None
        for hour, logs in sorted(hours.items()):
            day, h = hour[:8], int(hour[9:11])
            date = f"{day[:4]}-{day[4:6]}-{day[6:8]}"
            key = (f"{prefix}/CloudTrail-Digest/{region}/{day[:4]}/{day[4:6]}/{day[6:8]}/"
                   f"{account}_CloudTrail-Digest_{region}_org_us-east-1_{day}T{h:02}5959Z.json.gz")
            data = {
                "awsAccountId": account,
                "digestStartTime": f"{date}T{h:02}:00:00Z",
                "digestEndTime": f"{date}T{h:02}:59:59Z",
                "digestS3Bucket": "trail-bucket",
                "digestS3Object": key,
                "digestPublicKeyFingerprint": fingerprint,
                "digestSignatureAlgorithm": "SHA256withRSA",
                "newestEventTime": None,
                "oldestEventTime": None,
                "previousDigestS3Bucket": "trail-bucket" if previous else None,
                "previousDigestS3Object": previous["key"] if previous else None,
                "previousDigestHashValue": previous["hash"] if previous else None,
                "previousDigestHashAlgorithm": "SHA-256" if previous else None,
                "previousDigestSignature": previous["signature"] if previous else None,
                "logFiles": [{
                    "s3Bucket": "trail-bucket",
                    "s3Object": log,
                    "hashValue": hashlib.sha256(gzip.decompress((root / log).read_bytes())).hexdigest(),
                    "hashAlgorithm": "SHA-256",
                } for log in logs],
            }
            inflated = json.dumps(data, indent=1).encode()
            signature = rsa.sign(validator._create_string_to_sign(data, inflated), private, "SHA-256").hex()
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(inflated))
            (root / (key + ".signature")).write_text(signature)
            previous = {"key": key, "hash": hashlib.sha256(inflated).hexdigest(), "signature": signature}
    keys = {"PublicKeyList": [{"Value": base64.b64encode(der).decode(), "Fingerprint": fingerprint,
                               "ValidityStartTime": "2026-01-01T00:00:00Z", "ValidityEndTime": "2027-01-01T00:00:00Z"}]}
    (root / "public-keys.json").write_text(json.dumps(keys))


if __name__ == "__main__":
    if sys.argv[1] == "check":
        check(pathlib.Path(sys.argv[2]), sys.argv[3])
    else:
        sign(pathlib.Path(sys.argv[2]))
