#!/usr/bin/env python3
"""Writes crates/detections/aws-api/events.tsv: the CloudTrail event sources and event names that
AWS's published API models (botocore's data/<service>/<version>/service-2.json) imply, which
`trailhouse rules lint` checks every rule against.

One line per event source: `<source>\t<Name> <Name> ...`, sorted. A service's event source
is `<endpointPrefix>.amazonaws.com` except where CloudTrail names it otherwise (EXCEPTIONS
below, each with where it was seen); its event names are its operations. Events CloudTrail
records that no model has (console sign-in, service events, console-only calls, S3's own
names) are in crates/detections/aws-api/cloudtrail-only.toml, written by hand with a page each.

Usage (from the repository root; downloads the pinned botocore wheel from PyPI with pip
unless this Python already has that version):
    .venv/bin/python scripts/aws-api-table.py
    .venv/bin/python scripts/aws-api-table.py --check pairs.tsv
`--check` reads a TSV of (eventSource, eventName, ...) rows, e.g. one made from real
CloudTrail, and prints the pairs the table and cloudtrail-only.toml do not know.
"""

import argparse
import gzip
import importlib.metadata
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile

BOTOCORE_VERSION = "1.44.18"
ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "detections" / "aws-api" / "events.tsv"
CLOUDTRAIL_ONLY = ROOT / "detections" / "aws-api" / "cloudtrail-only.toml"

# botocore service name -> the event source CloudTrail records for its operations, where
# that is not `<endpointPrefix>.amazonaws.com`.
EXCEPTIONS = {
    # S3 Control (endpoint prefix s3-control): account-level S3 calls are logged under s3
    # (GetAccountPublicAccessBlock, ListAccessPoints, GetStorageLensConfiguration recorded
    # in invictus-aws-stratus; S3's CloudTrail page lists the account-level actions).
    "s3control": "s3.amazonaws.com",
    # SES v1, v2 and Pinpoint's email API share the endpoint prefix `email`; CloudTrail says
    # ses (GetSendQuota, ListIdentities recorded in panther-analysis).
    "ses": "ses.amazonaws.com",
    "sesv2": "ses.amazonaws.com",
    "pinpoint-email": "ses.amazonaws.com",
    # DynamoDB Streams (streams.dynamodb) is logged under dynamodb (GetRecords recorded).
    "dynamodbstreams": "dynamodb.amazonaws.com",
    # IAM Identity Center: sso-admin's prefix is already `sso`; the access portal API
    # (portal.sso: GetRoleCredentials, ListAccounts) is logged under sso too, and the OIDC
    # API (oidc: CreateToken) under sso-oauth (EventBridge's events-ref-sso-oauth page).
    "sso": "sso.amazonaws.com",
    "sso-oidc": "sso-oauth.amazonaws.com",
}


def event_source(service: str, metadata: dict) -> str:
    """The CloudTrail event source of a botocore service."""
    if service in EXCEPTIONS:
        return EXCEPTIONS[service]
    prefix = metadata["endpointPrefix"]
    # Every Bedrock API that signs as `bedrock` (bedrock-runtime, bedrock-agent,
    # bedrock-agent-runtime, bedrock-data-automation...) is logged under bedrock
    # (InvokeModel from bedrock-runtime recorded in stratus-red-team).
    if metadata.get("signingName") == "bedrock":
        return "bedrock.amazonaws.com"
    # `api.X` is the host, not the service: api.ecr, api.detective, api.sagemaker,
    # api.pricing are logged as ecr, detective, sagemaker, pricing.
    if prefix.startswith("api."):
        prefix = prefix[len("api."):]
    # SageMaker's runtimes (runtime.sagemaker, featurestore-runtime.sagemaker, ...) sign and
    # are logged as sagemaker.
    if prefix.endswith(".sagemaker"):
        prefix = "sagemaker"
    return f"{prefix}.amazonaws.com"


# Lambda's event names carry the API version of the operation's URI: UpdateFunctionCode is
# logged as UpdateFunctionCode20150331v2, CreateFunction as CreateFunction20150331. The
# table lists each operation and its dated name; the linter also takes a `v<N>` suffix.
DATED_SOURCES = {"lambda.amazonaws.com"}


def dated_name(op: dict, name: str) -> str | None:
    m = re.match(r"^/(\d{4})-(\d{2})-(\d{2})/", op.get("http", {}).get("requestUri", ""))
    return f"{name}{m.group(1)}{m.group(2)}{m.group(3)}" if m else None


def models():
    """(service, service-2 model) of the pinned botocore, newest API version of each."""
    try:
        have = importlib.metadata.version("botocore")
    except importlib.metadata.PackageNotFoundError:
        have = None
    if have == BOTOCORE_VERSION:
        import botocore

        data = pathlib.Path(botocore.__file__).parent / "data"
        files = {p.relative_to(data).as_posix(): p.read_bytes for p in data.glob("*/*/service-2.json*")}
        yield from parse(files)
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             f"botocore=={BOTOCORE_VERSION}", "-d", tmp],
            check=True,
        )
        wheel = next(pathlib.Path(tmp).glob("botocore-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            files = {
                n[len("botocore/data/"):]: (lambda n=n: z.read(n))
                for n in z.namelist()
                if re.match(r"botocore/data/[^/]+/[^/]+/service-2\.json(\.gz)?$", n)
            }
            yield from parse(files)


def parse(files):
    newest = {}
    for path in files:
        service, version, _ = path.split("/")
        if service not in newest or version > newest[service][0]:
            newest[service] = (version, path)
    for service, (_, path) in sorted(newest.items()):
        raw = files[path]()
        if path.endswith(".gz"):
            raw = gzip.decompress(raw)
        yield service, json.loads(raw)


def build():
    table = {}
    for service, model in models():
        source = event_source(service, model["metadata"])
        names = table.setdefault(source, set())
        for name, op in model["operations"].items():
            names.add(name)
            if source in DATED_SOURCES and (dated := dated_name(op, name)):
                names.add(dated)
    return table


def cloudtrail_only():
    with open(CLOUDTRAIL_ONLY, "rb") as f:
        doc = tomllib.load(f)
    out = {}
    for e in doc.get("event", []):
        out.setdefault(e["source"], set()).update(e["names"])
    return out


def known(table, extra, source, name):
    names = table.get(source, set()) | extra.get(source, set())
    if name in names:
        return True
    if source in DATED_SOURCES:
        return re.sub(r"(\d{8})?(v\d+)?$", "", name) in names or re.sub(r"v\d+$", "", name) in names
    return False


def write(table):
    lines = [
        f"# CloudTrail event sources and names from AWS's API models: botocore {BOTOCORE_VERSION}.",
        "# Generated by scripts/aws-api-table.py; regenerate with `.venv/bin/python scripts/aws-api-table.py`.",
        "# <event source>\\t<event names, space-separated>. Hand-written additions: cloudtrail-only.toml.",
    ]
    for source in sorted(table):
        lines.append(f"{source}\t{' '.join(sorted(table[source]))}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    names = sum(len(v) for v in table.values())
    print(f"{OUT.relative_to(ROOT)}: botocore {BOTOCORE_VERSION}, {len(table)} event sources, "
          f"{names} names, {OUT.stat().st_size} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", metavar="PAIRS_TSV", help="print the (eventSource, eventName) pairs not known")
    args = ap.parse_args()
    table = build()
    write(table)
    extra = cloudtrail_only()
    redundant = sorted(f"{s} {n}" for s, names in extra.items() for n in names if n in table.get(s, ()))
    for r in redundant:
        print(f"note: cloudtrail-only.toml lists {r}, which botocore now has")
    if args.check:
        unknown = 0
        for line in open(args.check):
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 2 and not known(table, extra, cols[0], cols[1]):
                unknown += 1
                print(f"unknown: {cols[0]} {cols[1]}\t{' '.join(cols[2:])}")
        print(f"{unknown} pairs unknown")


if __name__ == "__main__":
    main()
