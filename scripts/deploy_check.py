"""Checks deploy/cloudformation/trailhouse.yaml (issue 38, part 4).

    deploy_check.py lint                  cfn-lint on the template (pinned in
                                          scripts/requirements-test.txt)
    deploy_check.py deploy --endpoint URL the template deployed to the local AWS server's
                                          CloudFormation (moto), twice (the two ways the queue
                                          is wired), and what it made read back with boto3
    deploy_check.py iam                   the IAM actions the binary calls, found from the AWS
                                          SDK calls in its Rust sources, against the actions
                                          the template's roles grant: each called action
                                          granted, no role granting one that is never called

Each prints what it checked and ends with one line `<subcommand>: OK: ...`; on a failure it
prints `<subcommand>: FAILED: ...` with what differed and exits 1 (2 for a bad invocation).

What moto 5.2.5's CloudFormation does not do (its `CloudFormationModel` subclasses, read in
moto/cloudformation/parsing.py and each service's models.py):
  - it skips, with only a warning in its log, AWS::SQS::QueuePolicy, AWS::S3::BucketPolicy,
    AWS::SNS::Subscription and AWS::Scheduler::Schedule (no model at all);
  - AWS::S3::Bucket applies only BucketEncryption (its algorithm and key, not
    BucketKeyEnabled) and Tags: NotificationConfiguration,
    LifecycleConfiguration, VersioningConfiguration, PublicAccessBlockConfiguration and
    OwnershipControls are dropped;
  - AWS::ECS::TaskDefinition keeps Family, ContainerDefinitions and Memory, not TaskRoleArn,
    ExecutionRoleArn, NetworkMode, RequiresCompatibilities, Cpu; AWS::ECS::Service keeps the
    cluster, task definition and count, not LaunchType nor NetworkConfiguration; AWS::ECS::
    Cluster keeps no ClusterSettings;
  - role inline policies come back as a Python repr instead of JSON (read with
    ast.literal_eval here).
So `deploy` first asserts that exactly the skipped resources above are missing from the stack
(a newer moto that creates one fails the check until the list is updated), reads back what
moto did create, then resolves the template against the stack itself (parameters,
conditions, Ref, GetAtt, Sub, If, Join) and applies what moto dropped through each service's
own API, the way CloudFormation would, and reads that back: the bucket notification (and an
object put under the trail's prefix reaching the queue), the queue and bucket policies, the
lake bucket's lifecycle, versioning and public access block, the SNS subscription (and a
CloudTrail notification published to the topic reaching the queue), the schedule. Those
lines say "applied by this checker". The task definitions' and service's dropped properties
are checked as resolved from the template ("template, resolved").
"""

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy/cloudformation/trailhouse.yaml"


class CheckFailed(Exception):
    pass


def fail(message):
    raise CheckFailed(message)


def ok(message):
    print(f"  ok  {message}", flush=True)


# --------------------------------------------------------------------------------------------
# The template: YAML with CloudFormation's short tags (!Ref, !Sub, ...) as their long forms.


def load_template(path=TEMPLATE):
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def construct(loader, suffix, node):
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if suffix == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if suffix == "Condition":
            return {"Condition": value}
        return {name: value}

    Loader.add_multi_constructor("!", construct)
    return yaml.load(path.read_text(), Loader=Loader)


NOVALUE = object()


class Resolver:
    """Resolves a template's intrinsic functions against parameter values and a stack's
    resources, as CloudFormation does (the subset this template uses)."""

    def __init__(self, template, params, pseudo, physical=None, attributes=None):
        self.t = template
        self.params = {}
        for name, spec in template.get("Parameters", {}).items():
            value = params.get(name, spec.get("Default"))
            if value is None:
                fail(f"parameter {name} has no value and no default")
            value = str(value)
            if spec["Type"].startswith("List<") or spec["Type"] == "CommaDelimitedList":
                value = [v for v in value.split(",") if v]
            self.params[name] = value
        self.pseudo = pseudo
        self.physical = physical or {}
        self.attributes = attributes or {}
        self._conditions = {}

    def condition(self, name):
        if name not in self._conditions:
            self._conditions[name] = self._cond(self.t["Conditions"][name])
        return self._conditions[name]

    def _cond(self, node):
        if isinstance(node, dict) and len(node) == 1:
            (k, v), = node.items()
            if k == "Condition":
                return self.condition(v)
            if k == "Fn::Equals":
                return str(self.value(v[0])) == str(self.value(v[1]))
            if k == "Fn::Not":
                return not self._cond(v[0])
            if k == "Fn::And":
                return all(self._cond(x) for x in v)
            if k == "Fn::Or":
                return any(self._cond(x) for x in v)
        fail(f"cannot evaluate condition {node!r}")

    def ref(self, name):
        if name == "AWS::NoValue":
            return NOVALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        if name in self.physical:
            return self.physical[name]
        fail(f"Ref {name}: not a parameter, nor a resource this stack created")

    def getatt(self, resource, attribute):
        try:
            return self.attributes[(resource, attribute)]
        except KeyError:
            fail(f"GetAtt {resource}.{attribute}: not known to this checker")

    def sub(self, text, variables):
        def one(m):
            inner = m.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in variables:
                return str(variables[inner])
            if "." in inner:
                return str(self.getatt(*inner.split(".", 1)))
            return str(self.ref(inner))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def value(self, node):
        if isinstance(node, list):
            out = [self.value(x) for x in node]
            return [x for x in out if x is not NOVALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (k, v), = node.items()
            if k == "Ref":
                return self.ref(v)
            if k == "Fn::GetAtt":
                return self.getatt(*v)
            if k == "Fn::If":
                return self.value(v[1] if self.condition(v[0]) else v[2])
            if k == "Fn::Join":
                return v[0].join(str(x) for x in self.value(v[1]))
            if k == "Fn::Sub":
                if isinstance(v, str):
                    return self.sub(v, {})
                return self.sub(v[0], {n: self.value(x) for n, x in v[1].items()})
            if k.startswith("Fn::"):
                fail(f"{k} is not resolved by this checker")
        out = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NOVALUE}

    def active_resources(self):
        """Logical id -> resource, for the resources whose condition holds."""
        return {
            name: r
            for name, r in self.t["Resources"].items()
            if "Condition" not in r or self.condition(r["Condition"])
        }


# --------------------------------------------------------------------------------------------
# lint


def cmd_lint(_args):
    exe = Path(sys.executable).parent / "cfn-lint"
    if not exe.exists():
        fail(f"cfn-lint is not installed beside {sys.executable}: run scripts/moto.sh install")
    pinned = re.search(r"^cfn-lint==(\S+)", (ROOT / "scripts/requirements-test.txt").read_text(), re.M)
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True).stdout.split()[-1]
    if not pinned:
        fail("scripts/requirements-test.txt does not pin cfn-lint")
    if pinned.group(1) != version:
        fail(f"cfn-lint {version} is installed, {pinned.group(1)} is pinned: run scripts/moto.sh install")
    run = subprocess.run([str(exe), "--format", "parseable", str(TEMPLATE)], capture_output=True, text=True)
    print(run.stdout, end="")
    print(run.stderr, end="", file=sys.stderr)
    if run.returncode != 0:
        fail(f"cfn-lint {version} found problems in {TEMPLATE.relative_to(ROOT)} (exit {run.returncode}, above)")
    print(f"lint: OK: cfn-lint {version} passes {TEMPLATE.relative_to(ROOT)} with no error or warning")


# --------------------------------------------------------------------------------------------
# iam: the SDK calls in the binary's sources, and what the template grants.

# Every AWS SDK operation the binary's code calls, keyed by (SDK crate suffix, operation as
# the Rust SDK names it), and the IAM action it needs (None: no permission needed). An
# operation found in the code and missing here fails the check.
OPERATIONS = {
    ("s3", "get_object"): "s3:GetObject",
    ("s3", "head_object"): "s3:GetObject",  # HeadObject has no action of its own
    ("s3", "list_objects_v2"): "s3:ListBucket",  # listing is an action on the bucket
    ("s3", "put_object"): "s3:PutObject",
    ("s3", "delete_object"): "s3:DeleteObject",
    ("sqs", "receive_message"): "sqs:ReceiveMessage",
    ("sqs", "delete_message"): "sqs:DeleteMessage",
    ("sqs", "delete_message_batch"): "sqs:DeleteMessage",  # batch calls need the single action
    ("sqs", "change_message_visibility"): "sqs:ChangeMessageVisibility",
    ("sqs", "change_message_visibility_batch"): "sqs:ChangeMessageVisibility",  # as above
    ("sqs", "get_queue_attributes"): "sqs:GetQueueAttributes",
    ("sqs", "get_queue_url"): "sqs:GetQueueUrl",
    ("sqs", "send_message"): "sqs:SendMessage",
    ("sqs", "send_message_batch"): "sqs:SendMessage",  # as above
    ("cloudtrail", "list_public_keys"): "cloudtrail:ListPublicKeys",
    ("sns", "publish"): "sns:Publish",
    ("eventbridge", "put_events"): "events:PutEvents",  # EventBridge's IAM prefix is `events`
    ("securityhub", "batch_import_findings"): "securityhub:BatchImportFindings",
    # GetCallerIdentity needs no permission: AWS allows it to every principal, always.
    ("sts", "get_caller_identity"): None,
    ("organizations", "list_accounts"): "organizations:ListAccounts",
    ("organizations", "list_parents"): "organizations:ListParents",
    ("organizations", "list_accounts_for_parent"): "organizations:ListAccountsForParent",
    ("organizations", "list_organizational_units_for_parent"): "organizations:ListOrganizationalUnitsForParent",
    # trailhouse catalog register / unregister (crates/catalog): OPERATOR_SOURCES.
    ("glue", "get_database"): "glue:GetDatabase",
    ("glue", "create_database"): "glue:CreateDatabase",
    ("glue", "get_table"): "glue:GetTable",
    ("glue", "create_table"): "glue:CreateTable",
    ("glue", "update_table"): "glue:UpdateTable",
    ("glue", "delete_table"): "glue:DeleteTable",
}

# The lake is read and written by delta-rs through object_store, not through the SDK: no
# `.get_object()` in our code says so, so its needs are listed here, with why.
LAKE_STORAGE = {
    "s3:GetObject": "the Delta log, checkpoints and Parquet files (GET and HEAD)",
    "s3:ListBucket": "the _delta_log/ listing that finds a table's versions",
    "s3:PutObject": "Parquet files (multipart uploads: Create/UploadPart/Complete are "
    "s3:PutObject), commits (a conditional PUT, If-None-Match) and quarantine copies",
    "s3:DeleteObject": "delta-rs's post-commit cleanup: at each checkpoint (every 100 "
    "commits) it deletes the table's log files older than delta.logRetentionDuration (30 "
    "days); VACUUM in `trailhouse compact`",
}
# Called by a dependency and deliberately not granted, with why (the check reports them).
NOT_GRANTED = {
    "s3:AbortMultipartUpload": "delta-rs aborts a Parquet file's multipart upload when its "
    "writer fails or is reset; docs/iam.md does not grant it, so the abort is refused and "
    "the lake bucket's lifecycle rule (AbortIncompleteMultipartUpload) removes the parts",
}

# Actions AWS checks on the caller's behalf when the binary calls another one: (the action,
# the call that implies it, the role that makes that call, why).
IMPLIED = [
    ("kms:Decrypt", "s3:GetObject", "IngestTaskRole",
     "S3 decrypts an SSE-KMS log file with the caller's kms:Decrypt when GetObject reads it "
     "(only with TrailKmsKeyArn; the lake uses SSE-S3 or the AWS managed key aws/s3, which "
     "need no grant)"),
]

# Which deployed role runs the code in which sources (a call in a source no role runs fails
# the check, so a new command's SDK use is noticed).
ROLE_SOURCES = {
    "IngestTaskRole": ["crates/ingest/src/"],
    # route: destinations; enrich: accounts = "organizations"; src/args.rs: OU paths in
    # [rule_settings] (PackArgs::load_tuned) and EnrichArgs::install.
    "DetectTaskRole": ["crates/route/src/", "crates/enrich/src/", "src/args.rs"],
}
# What each role's lake access is (LAKE_STORAGE's actions it needs).
ROLE_LAKE = {
    "IngestTaskRole": {"s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:DeleteObject"},
    "DetectTaskRole": {"s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:DeleteObject"},
}
# Sources of commands an operator runs by hand, never a deployed task: their calls need no
# role in the template, but each action must be in docs/iam.md's policy for that command.
OPERATOR_SOURCES = {
    "crates/catalog/src/": "trailhouse catalog register/unregister (docs/iam.md, Glue catalog)",
}
# Roles that are infrastructure, not trailhouse: exactly these actions, with why.
INFRASTRUCTURE = {
    "TaskExecutionRole": {
        "ecr:GetAuthorizationToken": "ECS logs in to ECR to pull the image",
        "ecr:BatchCheckLayerAvailability": "ECS pulls the image",
        "ecr:GetDownloadUrlForLayer": "ECS pulls the image",
        "ecr:BatchGetImage": "ECS pulls the image",
        "logs:CreateLogStream": "the awslogs driver ships the container's output",
        "logs:PutLogEvents": "the awslogs driver ships the container's output",
    },
    "SchedulerRole": {
        "ecs:RunTask": "EventBridge Scheduler starts the detect task",
        "iam:PassRole": "RunTask hands the detect task its task and execution roles",
    },
}
# Resource policies: what they allow AWS services (never a person or role) to do.
RESOURCE_POLICIES = {
    "QueuePolicy": {"sqs:SendMessage": "the bucket's notification or the topic delivers to the queue"},
    "CloudTrailBucketPolicy": {
        "s3:GetBucketAcl": "CloudTrail checks the bucket before it delivers",
        "s3:PutObject": "CloudTrail delivers log files and digests",
    },
    "LakeBucketPolicy": {},
}

SDK_CRATE = re.compile(r"\baws_sdk_([a-z0-9]+)\b")

# Our own methods named as an SDK operation, called in files that do not name that SDK crate
# (the SDK call inside them is counted where it is). Any other SDK operation name met in such
# a file fails the scan: a client built elsewhere and used there would be missed otherwise.
WRAPPERS = {
    ("cloudtrail", "list_public_keys"): "AwsOptions::list_public_keys (crates/ingest/src/aws.rs)",
}


def blank_comments_and_strings(text):
    """`text` with comments and the insides of string and char literals replaced by spaces
    (newlines kept), so that what is left is code at the same offsets."""
    out = list(text)
    i, n = 0, len(text)

    def blank(a, b):
        for j in range(a, b):
            if out[j] != "\n":
                out[j] = " "

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif re.match(r'b?r#*"', text[i : i + 40]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'(b?r)(#*)"', text[i:])
            end = text.find('"' + m.group(2), i + len(m.group(0)))
            end = n if end < 0 else end + 1 + len(m.group(2))
            blank(i + len(m.group(0)), end - 1 - len(m.group(2)))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i + 1, j)
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\(x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'])'", text[i:])
            if m:
                blank(i + 1, i + len(m.group(0)) - 1)
                i += len(m.group(0))
            else:
                i += 1  # a lifetime
        else:
            i += 1
    return "".join(out)


def without_test_items(code):
    """`code` (already blanked) with every `#[cfg(test)]` item blanked, and the names of
    `#[cfg(test)] mod NAME;` files."""
    out = list(code)
    test_files = []
    for m in re.finditer(r"#\[cfg\(test\)\]", code):
        i = m.end()
        depth = 0
        while i < len(code):
            ch = code[i]
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth -= 1
            elif ch == ";" and depth == 0:
                item = code[m.end() : i]
                mod = re.search(r"\bmod\s+(\w+)\s*$", item)
                if mod:
                    test_files.append(mod.group(1))
                break
            elif ch == "{" and depth == 0:
                braces = 0
                while i < len(code):
                    if code[i] == "{":
                        braces += 1
                    elif code[i] == "}":
                        braces -= 1
                        if braces == 0:
                            break
                    i += 1
                break
            i += 1
        for j in range(m.start(), min(i + 1, len(code))):
            if out[j] != "\n":
                out[j] = " "
    return "".join(out), test_files


def sdk_operations(service):
    """The operations of the SDK crate aws-sdk-<service> at Cargo.lock's version, from its
    sources in cargo's registry (None if they are not there)."""
    lock = (ROOT / "Cargo.lock").read_text()
    m = re.search(rf'name = "aws-sdk-{service}"\nversion = "([^"]+)"', lock)
    if not m:
        return None
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    for crate in home.glob(f"registry/src/*/aws-sdk-{service}-{m.group(1)}"):
        return sorted(p.name for p in (crate / "src/operation").iterdir() if p.is_dir())
    return None


def binary_sources():
    """The Rust files of the binary and its libraries, test code left out: src/ and each
    crate's src/ (not tests/, benches/, fuzz/, crates/test-support, crates/workspace-hack)."""
    roots = [ROOT / "src"] + [
        d / "src" for d in sorted((ROOT / "crates").iterdir()) if d.name not in ("test-support", "workspace-hack")
    ]
    files = []
    for r in roots:
        files.extend(sorted(r.rglob("*.rs")))
    return files


def scan_sdk_calls():
    """[(service, operation, file, line)] for every AWS SDK call in the binary's sources."""
    calls, notes = [], []
    known_ops = {}
    skipped_test_files = set()
    files = binary_sources()
    blanked = {}
    for f in files:
        code, test_mods = without_test_items(blank_comments_and_strings(f.read_text()))
        blanked[f] = code
        for name in test_mods:
            for p in (f.parent / f"{name}.rs", f.parent / name / "mod.rs", f.parent / f.stem / f"{name}.rs"):
                skipped_test_files.add(p)
    for f in files:
        if f in skipped_test_files:
            continue
        code = blanked[f]
        services = sorted(set(SDK_CRATE.findall(code)))
        for service in services:
            if service not in known_ops:
                ops = sdk_operations(service)
                if ops is None:
                    ops = sorted(op for (s, op) in OPERATIONS if s == service)
                    notes.append(
                        f"aws-sdk-{service}'s sources are not in cargo's registry: only the "
                        f"operations in OPERATIONS were looked for"
                    )
                known_ops[service] = ops
            for op in known_ops[service]:
                for m in re.finditer(rf"\.\s*{op}\s*\(", code):
                    line = code.count("\n", 0, m.start()) + 1
                    calls.append((service, op, str(f.relative_to(ROOT)), line))
    # The guard: multi-word operation names of the SDK crates in use, in the other files.
    stray = []
    for f in files:
        if f in skipped_test_files:
            continue
        code = blanked[f]
        rel = str(f.relative_to(ROOT)) if f.is_relative_to(ROOT) else str(f)
        services = set(SDK_CRATE.findall(code))
        for service, ops in known_ops.items():
            if service in services:
                continue
            for op in (o for o in ops if "_" in o and (service, o) not in WRAPPERS):
                for m in re.finditer(rf"\.\s*{op}\s*\(", code):
                    line = code.count("\n", 0, m.start()) + 1
                    stray.append(f"{rel}:{line} calls .{op}() of aws-sdk-{service} without naming aws_sdk_{service}")
    if stray:
        fail("\n  ".join(["SDK operations called where the scan cannot tell the client (name the crate in the file, or list a wrapper in WRAPPERS):"] + stray))
    return calls, notes


def statements(node):
    """Every statement of a (template) policy document, both sides of an Fn::If."""
    out = []
    items = node["Statement"]
    items = items if isinstance(items, list) else [items]
    for s in items:
        if isinstance(s, dict) and "Fn::If" in s:
            for branch in s["Fn::If"][1:]:
                if branch != {"Ref": "AWS::NoValue"}:
                    out.append(branch)
        else:
            out.append(s)
    return out


def as_list(v):
    return v if isinstance(v, list) else [v]


def template_grants(template):
    """Role or resource policy logical id -> {action: [statement Sids]} of its Allow
    statements; and the IAM resources the check does not know."""
    res = template["Resources"]
    grants = {}
    for name, r in res.items():
        t = r["Type"]
        if t == "AWS::IAM::Role":
            g = grants.setdefault(name, {})
            for p in r["Properties"].get("Policies", []):
                for s in statements(p["PolicyDocument"]):
                    if s["Effect"] == "Allow":
                        for a in as_list(s["Action"]):
                            g.setdefault(a, []).append(s.get("Sid", "?"))
            if r["Properties"].get("ManagedPolicyArns"):
                fail(f"{name} has managed policies: this check (and moto) reads inline ones only")
    for name, r in res.items():
        t = r["Type"]
        if t in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for role in r["Properties"].get("Roles", []):
                g = grants.setdefault(role["Ref"], {})
                for s in statements(r["Properties"]["PolicyDocument"]):
                    if s["Effect"] == "Allow":
                        for a in as_list(s["Action"]):
                            g.setdefault(a, []).append(s.get("Sid", "?"))
        elif t in ("AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy"):
            g = grants.setdefault(name, {})
            for s in statements(r["Properties"]["PolicyDocument"]):
                if s["Effect"] != "Allow":
                    continue
                principal = s.get("Principal")
                if not (isinstance(principal, dict) and set(principal) == {"Service"}):
                    fail(f"{name}'s statement {s.get('Sid')} allows {principal!r}: only AWS services may be allowed")
                for a in as_list(s["Action"]):
                    g.setdefault(a, []).append(s.get("Sid", "?"))
    return grants


def docs_actions():
    """`service:Action` words in docs/iam.md."""
    text = (ROOT / "docs/iam.md").read_text()
    pattern = r"\b(s3|sqs|kms|cloudtrail|sns|events|securityhub|sts|organizations|glue):([A-Z][a-z][A-Za-z]*)\b(?!:)"
    return sorted(set(re.findall(pattern, text)))


def cmd_iam(_args):
    template = load_template()
    calls, notes = scan_sdk_calls()
    if not calls:
        fail("no AWS SDK call found in the binary's sources: the scan is broken")
    problems = []
    needed = {role: {} for role in ROLE_SOURCES}  # role -> action -> [where]
    print("AWS SDK calls in the binary's sources (test code left out), and the IAM action each needs:")
    called = {}
    for service, op, path, line in sorted(calls, key=lambda c: (c[2], c[3])):
        if (service, op) not in OPERATIONS:
            problems.append(
                f"{path}:{line} calls aws-sdk-{service}'s {op}, which OPERATIONS does not map to an "
                f"IAM action: add it to scripts/deploy_check.py"
            )
            continue
        action = OPERATIONS[(service, op)]
        print(f"  {path}:{line}  {service}.{op}  ->  {action or '(no permission needed)'}")
        if action is None:
            continue
        operator = [why for prefix, why in OPERATOR_SOURCES.items() if path.startswith(prefix)]
        if operator:
            service_name, name = action.split(":")
            if (service_name, name) not in docs_actions():
                problems.append(f"{path}:{line} calls {action} ({operator[0]}), which docs/iam.md does not list")
            continue
        called.setdefault(action, []).append(f"{path}:{line}")
        roles = [role for role, prefixes in ROLE_SOURCES.items() if any(path.startswith(p) for p in prefixes)]
        if not roles:
            problems.append(
                f"{path}:{line} calls {action}, but no deployed role runs {path}: add it to ROLE_SOURCES "
                f"in scripts/deploy_check.py (and grant the action) or say why it is not deployed"
            )
        for role in roles:
            needed[role].setdefault(action, []).append(f"{path}:{line}")
    for n in notes:
        print(f"  note: {n}")
    print("The lake, through delta-rs and object_store (no SDK call in our code shows it):")
    for action, why in LAKE_STORAGE.items():
        print(f"  {action}: {why}")
    for role, actions in ROLE_LAKE.items():
        for a in actions:
            needed[role].setdefault(a, []).append("the lake (delta-rs)")
    print("Checked by AWS on the caller's behalf:")
    for action, by, role, why in IMPLIED:
        if by in needed[role]:
            needed[role].setdefault(action, []).append(f"implied by {by}")
            called.setdefault(action, []).append(f"implied by {by}")
            print(f"  {action} (with {by}, {role}): {why}")
    grants = template_grants(template)
    print("Each trailhouse role against what its code calls:")
    for role in ROLE_SOURCES:
        granted = grants.get(role)
        if granted is None:
            problems.append(f"the template has no role {role}")
            continue
        for action, where in sorted(needed[role].items()):
            if action in granted:
                print(f"  ok  {role} grants {action} ({', '.join(granted[action])}): called at {', '.join(where)}")
            else:
                problems.append(f"{role} does not grant {action}, which the binary calls at {', '.join(where)}")
        for action, sids in sorted(granted.items()):
            if action not in needed[role]:
                problems.append(f"{role} grants {action} ({', '.join(sids)}), which the code it runs never calls")
    def exactly(title, lists, verb, table):
        """Each named policy grants exactly the actions of its list (`table` names the list)."""
        print(title)
        for name, allowed in lists.items():
            granted = grants.get(name, {})
            for action in sorted(set(granted) | set(allowed)):
                if action not in granted:
                    problems.append(f"{name} does not {verb} {action} ({allowed[action]})")
                elif action not in allowed:
                    problems.append(f"{name} {verb}s {action}, which is not in its list ({table})")
                else:
                    print(f"  ok  {name}: {action} ({allowed[action]})")

    exactly("Infrastructure roles (AWS services acting for the stack, not trailhouse):", INFRASTRUCTURE, "grant",
            "INFRASTRUCTURE")
    exactly("Resource policies (what they let AWS services do):", RESOURCE_POLICIES, "allow", "RESOURCE_POLICIES")
    known = set(ROLE_SOURCES) | set(INFRASTRUCTURE) | set(RESOURCE_POLICIES)
    for name in grants:
        if name not in known:
            problems.append(f"{name} grants permissions but this check does not know it: classify it")
    every_granted = {a for role in ROLE_SOURCES for a in grants.get(role, {})}
    for action, where in sorted(called.items()):
        if action not in every_granted:
            problems.append(f"the binary calls {action} ({', '.join(where)}) and no policy of the template grants it")
    print("Called by a dependency and not granted, on purpose:")
    for action, why in NOT_GRANTED.items():
        if any(action in grants.get(role, {}) for role in ROLE_SOURCES):
            problems.append(f"{action} is listed as not granted but a role grants it: update NOT_GRANTED")
        print(f"  {action}: {why}")
    print("docs/iam.md against the code:")
    every_needed = set(called) | set(LAKE_STORAGE)
    for service, action in docs_actions():
        full = f"{service}:{action}"
        if full in every_needed:
            continue
        if full == "sts:GetCallerIdentity":
            print(f"  note: docs/iam.md names {full}, which needs no permission (AWS allows it always)")
        elif full == "s3:HeadObject":
            print(f"  note: docs/iam.md names {full}, which is no IAM action (HeadObject needs s3:GetObject)")
        else:
            print(f"  note: docs/iam.md names {full}, which the deployed commands never call")
    if problems:
        fail("\n  ".join(["IAM actions and the template disagree:"] + problems))
    implied = {a for a, *_ in IMPLIED}
    print(
        f"iam: OK: the {len(set(called) - implied)} IAM actions of the binary's SDK calls, {len(set(called) & implied)} "
        f"checked on its behalf and the {len(LAKE_STORAGE)} of its lake are each granted; no trailhouse role grants "
        f"an action its code never calls"
    )


# --------------------------------------------------------------------------------------------
# deploy


def parse_policy(doc):
    """A policy document as boto3 returns it (moto: JSON, or a Python repr for a role's
    inline policy made by its CloudFormation)."""
    if isinstance(doc, dict):
        return doc
    try:
        return json.loads(doc)
    except ValueError:
        return ast.literal_eval(doc)


def normal(statement):
    """A statement with Action, Resource and condition values as sorted lists."""
    s = dict(statement)
    for k in ("Action", "Resource"):
        if k in s:
            s[k] = sorted(as_list(s[k]))
    if "Condition" in s:
        s["Condition"] = {
            op: {k: sorted(as_list(v)) for k, v in kv.items()} for op, kv in s["Condition"].items()
        }
    return s


def same_statements(what, got, want):
    got_by = {s.get("Sid"): normal(s) for s in got}
    want_by = {s.get("Sid"): normal(s) for s in want}
    if got_by != want_by:
        lines = [f"{what} differs from what is intended:"]
        for sid in sorted(set(got_by) | set(want_by), key=str):
            if got_by.get(sid) != want_by.get(sid):
                lines.append(f"  {sid}: got  {json.dumps(got_by.get(sid))}")
                lines.append(f"  {sid}: want {json.dumps(want_by.get(sid))}")
        fail("\n".join(lines))


def docs_ingest_policy():
    """The service's policy as docs/iam.md prints it, and its ListPublicKeys statement."""
    text = (ROOT / "docs/iam.md").read_text()
    block = re.search(r"```json\n(.*?)```", text, re.S)
    if not block:
        fail("docs/iam.md has no ```json policy block")
    policy = json.loads(block.group(1))
    keys = re.search(r'(\{"Effect": "Allow", "Action": "cloudtrail:ListPublicKeys",\s*"Resource": "\*"\})', text)
    if not keys:
        fail("docs/iam.md no longer shows the cloudtrail:ListPublicKeys statement")
    return policy["Statement"], json.loads(keys.group(1).replace("\n", " "))


def wait_for_stack(cf, name, deadline_s=90):
    deadline = time.monotonic() + deadline_s
    while True:
        stack = cf.describe_stacks(StackName=name)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            return stack
        if not status.endswith("_IN_PROGRESS"):
            events = cf.describe_stack_events(StackName=name)["StackEvents"]
            reasons = [f"{e.get('LogicalResourceId')}: {e.get('ResourceStatusReason')}" for e in events if e.get("ResourceStatusReason")]
            fail(f"stack {name} is {status}: {stack.get('StackStatusReason')} {reasons}")
        if time.monotonic() > deadline:
            fail(f"stack {name} still {status} after {deadline_s}s")
        time.sleep(0.2)  # poll interval


def receive_bodies(sqs, queue_url, want, deadline_s=20):
    """Message bodies from the queue until `want(bodies)` holds or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    bodies = []
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for m in got:
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        if want(bodies):
            return bodies
    fail(f"the queue did not receive what was expected within {deadline_s}s; got {bodies}")


# Resource types moto 5.2.5's CloudFormation has no model for: the stack leaves them out.
MOTO_SKIPS = {"AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy", "AWS::SNS::Subscription", "AWS::Scheduler::Schedule"}

DETECT_TABLES = ["alerts", "incidents", "detection_runs", "baselines", "alert_deliveries"]


def clients(endpoint):
    """boto3 clients of the local server, in AWS_REGION (boto3 itself reads only
    AWS_DEFAULT_REGION), else us-east-1."""
    import boto3

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return {
        s: boto3.client(s, endpoint_url=endpoint, region_name=region)
        for s in ("cloudformation", "sqs", "s3", "iam", "ecs", "logs", "sns", "scheduler", "sts", "ec2")
    }


class Deployment:
    def __init__(self, c, variant, params):
        self.c = c
        region = c["sts"].meta.region_name
        self.region = region
        self.variant = variant
        self.params = params
        self.stack = f"trailhouse-{variant}-{uuid.uuid4().hex[:8]}"
        self.template = load_template()
        self.account = self.c["sts"].get_caller_identity()["Account"]
        self.pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": region,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack,
            "AWS::URLSuffix": "amazonaws.com",
        }

    def create(self):
        cf = self.c["cloudformation"]
        cf.create_stack(
            StackName=self.stack,
            TemplateBody=TEMPLATE.read_text(),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in self.params.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
        stack = wait_for_stack(cf, self.stack)
        ok(f"stack {self.stack} CREATE_COMPLETE")
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        listed = cf.describe_stack_resources(StackName=self.stack)["StackResources"]
        self.physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in listed if "LogicalResourceId" in r}
        self.r = Resolver(self.template, self.params, self.pseudo)
        active = self.r.active_resources()
        want_missing = {n for n, r in active.items() if r["Type"] in MOTO_SKIPS}
        missing = set(active) - set(self.physical)
        extra = set(self.physical) - set(active)
        if extra:
            fail(f"the stack has resources whose condition is false: {sorted(extra)}")
        if missing != want_missing:
            now_made = sorted(want_missing - missing)
            lost = sorted(missing - want_missing)
            fail(
                f"moto left out {lost or 'nothing unexpected'}; moto now creates {now_made or 'none of MOTO_SKIPS'}: "
                f"update MOTO_SKIPS and the docs"
            )
        ok(
            f"{len(self.physical)} resources created; left out by moto's CloudFormation (no model): "
            + ", ".join(f"{n} ({active[n]['Type']})" for n in sorted(missing))
        )
        self.active = active
        self._attributes()

    def _queue_url(self, physical):
        return self.c["sqs"].get_queue_url(QueueName=physical.rsplit("/", 1)[-1])["QueueUrl"]

    def _attributes(self):
        sqs, iam, ecs = self.c["sqs"], self.c["iam"], self.c["ecs"]
        attrs = {}
        self.queue_urls = {}
        for name, r in self.active.items():
            if name not in self.physical:
                continue
            p = self.physical[name]
            t = r["Type"]
            if t == "AWS::SQS::Queue":
                url = self._queue_url(p)
                self.queue_urls[name] = url
                a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
                attrs[(name, "Arn")] = a["QueueArn"]
                attrs[(name, "QueueName")] = url.rsplit("/", 1)[-1]
            elif t == "AWS::IAM::Role":
                attrs[(name, "Arn")] = iam.get_role(RoleName=p)["Role"]["Arn"]
            elif t == "AWS::ECS::Cluster":
                attrs[(name, "Arn")] = ecs.describe_clusters(clusters=[p])["clusters"][0]["clusterArn"]
            elif t == "AWS::S3::Bucket":
                attrs[(name, "Arn")] = f"arn:aws:s3:::{p}"
        self.r = Resolver(self.template, self.params, self.pseudo, self.physical, attrs)
        self.attrs = attrs

    def resolved(self, name):
        return self.r.value(self.template["Resources"][name]["Properties"])

    # -- what moto's CloudFormation created ---------------------------------------------------

    def check_queue(self):
        sqs = self.c["sqs"]
        q = sqs.get_queue_attributes(QueueUrl=self.queue_urls["Queue"], AttributeNames=["All"])["Attributes"]
        dlq = sqs.get_queue_attributes(QueueUrl=self.queue_urls["DeadLetterQueue"], AttributeNames=["All"])["Attributes"]
        want = {"VisibilityTimeout": "300", "ReceiveMessageWaitTimeSeconds": "20", "MessageRetentionPeriod": "1209600", "SqsManagedSseEnabled": "true"}
        for k, v in want.items():
            if q.get(k) != v:
                fail(f"queue {k} is {q.get(k)}, want {v}")
        redrive = json.loads(q.get("RedrivePolicy", "null") or "null")
        if not redrive or redrive.get("deadLetterTargetArn") != dlq["QueueArn"] or int(redrive.get("maxReceiveCount", 0)) != 5:
            fail(f"queue RedrivePolicy is {redrive}, want the DLQ {dlq['QueueArn']} after 5 receives")
        if dlq.get("MessageRetentionPeriod") != "1209600" or dlq.get("SqsManagedSseEnabled") != "true":
            fail(f"dead-letter queue attributes {dlq}")
        if self.outputs.get("QueueUrl") != self.physical["Queue"]:
            fail(f"QueueUrl output {self.outputs.get('QueueUrl')} is not the queue {self.physical['Queue']}")
        ok(
            f"queue: visibility 300 s (>= --visibility-secs), long polling 20 s, 14 days, SSE-SQS; "
            f"RedrivePolicy -> {dlq['QueueArn'].rsplit(':', 1)[-1]} after 5 receives (14 days, SSE-SQS)"
        )

    def role_statements(self, role):
        iam = self.c["iam"]
        name = self.physical[role]
        if iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            fail(f"{role} has managed policies attached")
        out = []
        for pname in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            doc = parse_policy(iam.get_role_policy(RoleName=name, PolicyName=pname)["PolicyDocument"])
            out.extend(as_list(doc["Statement"]))
        return out

    def trust(self, role):
        doc = parse_policy(self.c["iam"].get_role(RoleName=self.physical[role])["Role"]["AssumeRolePolicyDocument"])
        return sorted(s["Principal"]["Service"] for s in as_list(doc["Statement"]))

    def check_roles(self, v):
        account, region = self.account, self.region
        trail_account = self.params.get("TrailAccountId") or account
        lake_arn = f"arn:aws:s3:::{v['lake_bucket']}"
        prefix = v["lake_prefix"]
        key_prefix = f"{self.params['TrailKeyPrefix']}/" if self.params.get("TrailKeyPrefix") else ""
        # ingest: docs/iam.md's policy with its placeholders filled in, statement for statement.
        docs, list_keys = docs_ingest_policy()
        subs = [
            ("CLOUDTRAIL-BUCKET/AWSLogs/", f"{self.params['CloudTrailBucketName']}/{key_prefix}AWSLogs/"),
            ("CLOUDTRAIL-BUCKET", self.params["CloudTrailBucketName"]),
            ("LAKE-BUCKET", v["lake_bucket"]),
            ("LAKE-PREFIX", prefix),
            ("REGION", region),
            ("QUEUE", self.attrs[("Queue", "QueueName")]),
            ("ACCOUNT", account),
        ]
        want = []
        for s in docs:
            if s["Sid"] == "DecryptLogs":
                if not self.params.get("TrailKmsKeyArn"):
                    continue
                if s["Resource"] != "arn:aws:kms:REGION:ACCOUNT:key/KEY-ID":
                    fail(f"docs/iam.md's DecryptLogs resource changed: {s['Resource']}")
                text = json.dumps(s).replace("ACCOUNT", trail_account)
                s = json.loads(text)
                s["Resource"] = self.params["TrailKmsKeyArn"]
                want.append(s)
                continue
            text = json.dumps(s)
            for a, b in subs:
                text = text.replace(a, b)
            want.append(json.loads(text))
        want.append(dict(list_keys, Sid="ListPublicKeys"))
        same_statements("IngestTaskRole's policies", self.role_statements("IngestTaskRole"), want)
        ok(
            "IngestTaskRole: docs/iam.md's service policy statement for statement ("
            + ", ".join(s["Sid"] for s in want)
            + ")"
        )
        # detect: read the lake, write its own tables, the destinations asked for.
        want = [
            {"Sid": "ReadLake", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{lake_arn}/{prefix}/*"},
            {"Sid": "ListLake", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": lake_arn,
             "Condition": {"StringLike": {"s3:prefix": f"{prefix}/*"}}},
            {"Sid": "WriteDetectionTables", "Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"],
             "Resource": [f"{lake_arn}/{prefix}/{t}/*" for t in DETECT_TABLES]},
        ]
        if self.params.get("AlertTopicArn"):
            want.append({"Sid": "PublishAlerts", "Effect": "Allow", "Action": "sns:Publish", "Resource": self.params["AlertTopicArn"]})
        if self.params.get("AlertEventBusArn"):
            want.append({"Sid": "PutAlertEvents", "Effect": "Allow", "Action": "events:PutEvents", "Resource": self.params["AlertEventBusArn"]})
        if self.params.get("SecurityHubFindings") == "true":
            want.append({"Sid": "ImportFindings", "Effect": "Allow", "Action": "securityhub:BatchImportFindings",
                         "Resource": f"arn:aws:securityhub:{region}:{account}:product/{account}/default"})
        if self.params.get("OrganizationLookups") == "true":
            want.append({"Sid": "ResolveAccounts", "Effect": "Allow", "Resource": "*", "Action": [
                "organizations:ListAccountsForParent", "organizations:ListOrganizationalUnitsForParent",
                "organizations:ListAccounts", "organizations:ListParents"]})
        same_statements("DetectTaskRole's policies", self.role_statements("DetectTaskRole"), want)
        ok("DetectTaskRole: " + ", ".join(s["Sid"] for s in want) + f" (writes only {', '.join(DETECT_TABLES)})")
        log_group = self.physical["LogGroup"]
        want = [
            {"Sid": "EcrToken", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {"Sid": "PullImage", "Effect": "Allow", "Resource": "*",
             "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]},
            {"Sid": "WriteLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": f"arn:aws:logs:{region}:{account}:log-group:{log_group}:*"},
        ]
        same_statements("TaskExecutionRole's policies", self.role_statements("TaskExecutionRole"), want)
        ok("TaskExecutionRole (infrastructure): pull the image, write to the stack's log group only")
        want = [
            {"Sid": "RunDetect", "Effect": "Allow", "Action": "ecs:RunTask", "Resource": self.physical["DetectTaskDefinition"],
             "Condition": {"ArnEquals": {"ecs:cluster": self.attrs[("Cluster", "Arn")]}}},
            {"Sid": "PassDetectRoles", "Effect": "Allow", "Action": "iam:PassRole",
             "Resource": [self.attrs[("DetectTaskRole", "Arn")], self.attrs[("TaskExecutionRole", "Arn")]],
             "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
        ]
        same_statements("SchedulerRole's policies", self.role_statements("SchedulerRole"), want)
        ok("SchedulerRole (infrastructure): ecs:RunTask on the detect task definition in this cluster, iam:PassRole on its two roles")
        for role, service in [("IngestTaskRole", "ecs-tasks.amazonaws.com"), ("DetectTaskRole", "ecs-tasks.amazonaws.com"),
                              ("TaskExecutionRole", "ecs-tasks.amazonaws.com"), ("SchedulerRole", "scheduler.amazonaws.com")]:
            if self.trust(role) != [service]:
                fail(f"{role} trusts {self.trust(role)}, want {service}")
        ok("trust: the task roles and the execution role by ecs-tasks.amazonaws.com, the scheduler's by scheduler.amazonaws.com")

    def check_config_flags(self):
        """The flags the template passes exist: docs/configuration.md's table is generated
        from the commands' clap definitions (a test fails when it is stale)."""
        table = (ROOT / "docs/configuration.md").read_text()
        for command, flag in [("ingest", "--queue-url"), ("ingest", "--lake"), ("detect", "--lake"), ("detect", "--format")]:
            if not re.search(rf"^\| {command} \| `{flag}` \|", table, re.M):
                fail(f"`trailhouse {command}` has no {flag} (docs/configuration.md's generated table)")
        if not re.search(r"^\| detect \| `--format` \|.*ndjson", table, re.M):
            fail("`trailhouse detect --format` no longer offers ndjson")
        for var in ["TRAILHOUSE_REGION", "TRAILHOUSE_CONFIG"]:
            if var not in table:
                fail(f"{var} is not in docs/configuration.md")

    def check_tasks(self, v):
        ecs = self.c["ecs"]
        lake = f"s3://{v['lake_bucket']}/{v['lake_prefix']}"
        if self.outputs.get("Lake") != lake:
            fail(f"Lake output {self.outputs.get('Lake')}, want {lake}")
        self.check_config_flags()
        tds = {}
        for name, command in [
            ("IngestTaskDefinition", ["ingest", "--queue-url", self.physical["Queue"], "--lake", lake]),
            ("DetectTaskDefinition", ["detect", "--lake", lake, "--format", "ndjson"]),
        ]:
            td = ecs.describe_task_definition(taskDefinition=self.physical[name])["taskDefinition"]
            (c,) = td["containerDefinitions"]
            if c.get("entryPoint") != ["trailhouse"] or c.get("command") != command:
                fail(f"{name} runs {c.get('entryPoint')} {c.get('command')}, want ['trailhouse'] {command}")
            if c.get("image") != self.params["ContainerImage"]:
                fail(f"{name} image {c.get('image')}")
            env = {e["name"]: e["value"] for e in c.get("environment", [])}
            want_env = {"TRAILHOUSE_REGION": self.region}
            if name == "DetectTaskDefinition" and self.params.get("DetectSettingsFile"):
                want_env["TRAILHOUSE_CONFIG"] = self.params["DetectSettingsFile"]
            if env != want_env:
                fail(f"{name} environment {env}, want {want_env}")
            logc = c.get("logConfiguration", {})
            if logc.get("logDriver") != "awslogs" or logc.get("options", {}).get("awslogs-group") != self.physical["LogGroup"]:
                fail(f"{name} logs to {logc}, want awslogs to {self.physical['LogGroup']}")
            tds[name] = td
            ok(f"{name}: trailhouse {' '.join(command)}; env {sorted(want_env)}; logs to {self.physical['LogGroup']}")
        # What moto's ECS drops, from the template resolved against this stack.
        for name, role in [("IngestTaskDefinition", "IngestTaskRole"), ("DetectTaskDefinition", "DetectTaskRole")]:
            p = self.resolved(name)
            want = {"TaskRoleArn": self.attrs[(role, "Arn")], "ExecutionRoleArn": self.attrs[("TaskExecutionRole", "Arn")],
                    "NetworkMode": "awsvpc", "RequiresCompatibilities": ["FARGATE"]}
            got = {k: p.get(k) for k in want}
            if got != want:
                fail(f"{name} (template, resolved) {got}, want {want}")
        ok("task definitions (template, resolved: moto's ECS drops these): Fargate, awsvpc, each with its own task role and the execution role")
        svc = ecs.describe_services(cluster=self.physical["Cluster"], services=[self.physical["IngestService"]])["services"][0]
        if svc["taskDefinition"] != self.physical["IngestTaskDefinition"] or svc["desiredCount"] != int(self.params.get("IngestCount", "1")):
            fail(f"ingest service runs {svc['taskDefinition']} x{svc['desiredCount']}")
        p = self.resolved("IngestService")
        net = p["NetworkConfiguration"]["AwsvpcConfiguration"]
        if p["LaunchType"] != "FARGATE" or net["Subnets"] != v["subnets"] or net["SecurityGroups"] != v["security_groups"]:
            fail(f"ingest service (template, resolved) {p}")
        ok(f"ingest service: {svc['desiredCount']} task(s) of the ingest task definition (Fargate in {net['Subnets']}: template, resolved)")
        groups = self.c["logs"].describe_log_groups(logGroupNamePrefix=self.physical["LogGroup"])["logGroups"]
        if not groups or groups[0].get("retentionInDays") != 30:
            fail(f"log group {groups}")
        ok(f"log group {self.physical['LogGroup']}, 30 days")

    def check_bucket_encryption(self, name, algorithm, bucket_key):
        enc = self.c["s3"].get_bucket_encryption(Bucket=self.physical[name])["ServerSideEncryptionConfiguration"]["Rules"][0]
        if enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] != algorithm:
            fail(f"{name} encryption {enc}, want {algorithm}")
        (rule,) = self.resolved(name)["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        if bool(rule.get("BucketKeyEnabled")) != bucket_key or "KMSMasterKeyID" in rule["ServerSideEncryptionByDefault"]:
            fail(f"{name} (template, resolved) encryption {rule}")
        ok(
            f"{name} {self.physical[name]}: default encryption {algorithm}"
            + (" (S3 Bucket Key on, AWS managed key: template, resolved; moto drops both)" if bucket_key else "")
        )

    # -- what moto's CloudFormation drops, applied the way CloudFormation would --------------

    def apply_queue_policy(self, principal, source_arn):
        p = self.resolved("QueuePolicy")
        sqs = self.c["sqs"]
        sqs.set_queue_attributes(QueueUrl=self.queue_urls["Queue"], Attributes={"Policy": json.dumps(p["PolicyDocument"])})
        got = json.loads(sqs.get_queue_attributes(QueueUrl=self.queue_urls["Queue"], AttributeNames=["Policy"])["Attributes"]["Policy"])
        (s,) = got["Statement"]
        if (
            s["Effect"] != "Allow"
            or s["Principal"] != {"Service": principal}
            or s["Action"] != "sqs:SendMessage"
            or s["Resource"] != self.attrs[("Queue", "Arn")]
            or s["Condition"]["ArnEquals"]["aws:SourceArn"] != source_arn
        ):
            fail(f"queue policy {s}")
        ok(f"queue policy (applied by this checker): only {principal} may send, from {source_arn}")

    def apply_bucket_notification(self, logs_prefix):
        s3, sqs = self.c["s3"], self.c["sqs"]
        bucket = self.physical["CloudTrailBucket"]
        nc = self.resolved("CloudTrailBucket")["NotificationConfiguration"]
        api = {
            "QueueConfigurations": [
                {
                    "QueueArn": q["Queue"],
                    "Events": [q["Event"]],
                    "Filter": {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in q["Filter"]["S3Key"]["Rules"]]}},
                }
                for q in nc["QueueConfigurations"]
            ]
        }
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=api)
        got = s3.get_bucket_notification_configuration(Bucket=bucket)
        (q,) = got.get("QueueConfigurations", [None])
        rules = {r["Name"].lower(): r["Value"] for r in q["Filter"]["Key"]["FilterRules"]} if q else {}
        if not q or q["QueueArn"] != self.attrs[("Queue", "Arn")] or q["Events"] != ["s3:ObjectCreated:*"] or rules != {"prefix": logs_prefix}:
            fail(f"CloudTrail bucket notification {got}")
        ok(f"CloudTrail bucket notification (applied by this checker): s3:ObjectCreated:* under {logs_prefix} -> the queue")
        # A log file put under the prefix reaches the queue; one elsewhere does not.
        account_part = "111122223333"
        key = f"{logs_prefix}{account_part}/CloudTrail/{self.region}/2026/12/07/{account_part}_CloudTrail_{self.region}_20261207T1200Z_abcdefghijklmnop.json.gz"
        s3.put_object(Bucket=bucket, Key="elsewhere/not-a-log.json.gz", Body=b"x")
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")

        def keys(bodies):
            out = []
            for b in bodies:
                for rec in json.loads(b).get("Records", []):  # (s3:TestEvent has none)
                    out.append(urllib.parse.unquote_plus(rec["s3"]["object"]["key"]))  # keys come URL-encoded
            return out

        bodies = receive_bodies(sqs, self.queue_urls["Queue"], lambda bs: key in keys(bs))
        if keys(bodies) != [key]:
            fail(f"the queue received keys {keys(bodies)}, want only {key}")
        ok(f"a log file put under {logs_prefix} reached the queue as an S3 notification; an object elsewhere did not")

    def apply_bucket_policy(self, policy_name, bucket_logical):
        s3 = self.c["s3"]
        p = self.resolved(policy_name)
        bucket = p["Bucket"]
        if bucket != self.physical[bucket_logical]:
            fail(f"{policy_name} is on {bucket}, want {self.physical[bucket_logical]}")
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(p["PolicyDocument"]))
        got = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        deny = [s for s in got["Statement"] if s.get("Sid") == "DenyInsecureTransport"]
        if (
            len(deny) != 1
            or deny[0]["Effect"] != "Deny"
            or deny[0]["Condition"] != {"Bool": {"aws:SecureTransport": "false"}}
            or sorted(deny[0]["Resource"]) != sorted([f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"])
        ):
            fail(f"{policy_name} has no TLS-only statement: {got}")
        return got

    def check_trail_bucket_policy(self, logs_prefix):
        got = self.apply_bucket_policy("CloudTrailBucketPolicy", "CloudTrailBucket")
        bucket = self.physical["CloudTrailBucket"]
        trail_account = self.params.get("TrailAccountId") or self.account
        write = [s for s in got["Statement"] if s.get("Sid") == "CloudTrailWrite"][0]
        key_prefix = f"{self.params['TrailKeyPrefix']}/" if self.params.get("TrailKeyPrefix") else ""
        want = [f"arn:aws:s3:::{bucket}/{key_prefix}AWSLogs/{trail_account}/*"]
        if self.params.get("OrganizationId"):
            want.append(f"arn:aws:s3:::{bucket}/{key_prefix}AWSLogs/{self.params['OrganizationId']}/*")
        if sorted(as_list(write["Resource"])) != sorted(want) or write["Principal"] != {"Service": "cloudtrail.amazonaws.com"}:
            fail(f"CloudTrailWrite {write}, want {want}")
        ok(f"CloudTrail bucket policy (applied by this checker): CloudTrail may write {', '.join(w.split(':::')[1] for w in want)}; TLS only")

    def apply_lake_bucket_settings(self):
        s3 = self.c["s3"]
        bucket = self.physical["LakeBucket"]
        p = self.resolved("LakeBucket")
        rules = []
        for r in p["LifecycleConfiguration"]["Rules"]:
            rule = {"ID": r["Id"], "Status": r["Status"], "Filter": {"Prefix": ""}}
            if "AbortIncompleteMultipartUpload" in r:
                rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
            if "NoncurrentVersionExpiration" in r:
                rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(r["NoncurrentVersionExpiration"]["NoncurrentDays"])}
            if "ExpiredObjectDeleteMarker" in r:
                rule["Expiration"] = {"ExpiredObjectDeleteMarker": bool(r["ExpiredObjectDeleteMarker"])}
            for k in ("ExpirationInDays", "ExpirationDate", "Transitions", "Transition"):
                if k in r:
                    fail(f"lake lifecycle rule {r['Id']} has {k}: current lake files must never expire or move")
            rules.append(rule)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": p["VersioningConfiguration"]["Status"]})
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"])
        if s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
            fail("lake bucket versioning")
        got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        abort = [r for r in got if r.get("AbortIncompleteMultipartUpload")]
        noncurrent = [r for r in got if r.get("NoncurrentVersionExpiration")]
        current = [r for r in got if any(k in r.get("Expiration", {}) for k in ("Days", "Date"))]
        if len(abort) != 1 or len(noncurrent) != 1 or current:
            fail(f"lake lifecycle {got}")
        days = noncurrent[0]["NoncurrentVersionExpiration"]["NoncurrentDays"]
        if days != int(self.params.get("NoncurrentVersionDays", "30")):
            fail(f"noncurrent versions expire after {days} days")
        pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        if not all(pab.values()) or len(pab) != 4:
            fail(f"lake public access block {pab}")
        for name in ("LakeBucket", "CloudTrailBucket"):
            if name in self.active and self.resolved(name).get("OwnershipControls") != {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}:
                fail(f"{name} (template, resolved) does not enforce bucket owner: ACLs would still apply")
        ok(
            f"lake bucket (applied by this checker): versioned; lifecycle aborts incomplete uploads after "
            f"{abort[0]['AbortIncompleteMultipartUpload']['DaysAfterInitiation']} days, expires noncurrent "
            f"versions after {days} days, never expires a current file; public access blocked"
        )
        self.apply_bucket_policy("LakeBucketPolicy", "LakeBucket")
        ok("lake bucket policy (applied by this checker): TLS only")

    def apply_subscription(self, topic_arn):
        sns, sqs = self.c["sns"], self.c["sqs"]
        p = self.resolved("TrailTopicSubscription")
        if p["TopicArn"] != topic_arn or p["Protocol"] != "sqs" or p["Endpoint"] != self.attrs[("Queue", "Arn")]:
            fail(f"subscription (template, resolved) {p}")
        sub = sns.subscribe(
            TopicArn=p["TopicArn"], Protocol=p["Protocol"], Endpoint=p["Endpoint"],
            Attributes={"RawMessageDelivery": str(p["RawMessageDelivery"]).lower()}, ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        subs = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
        mine = [s for s in subs if s["Endpoint"] == self.attrs[("Queue", "Arn")]]
        raw = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"].get("RawMessageDelivery")
        if len(mine) != 1 or mine[0]["Protocol"] != "sqs" or raw != "true":
            fail(f"subscriptions of {topic_arn}: {subs} (raw delivery {raw})")
        ok("the queue's subscription to the trail's topic (applied by this checker): sqs, raw delivery")
        note = {"s3Bucket": self.params["CloudTrailBucketName"],
                "s3ObjectKey": [f"AWSLogs/{self.account}/CloudTrail/{self.region}/2026/12/07/{self.account}_CloudTrail_{self.region}_20261207T1200Z_abcdefghijklmnop.json.gz"]}
        sns.publish(TopicArn=topic_arn, Message=json.dumps(note))
        bodies = receive_bodies(sqs, self.queue_urls["Queue"], lambda bs: len(bs) >= 1)
        if [json.loads(b) for b in bodies] != [note]:
            fail(f"the queue received {bodies}, want CloudTrail's notification {note}")
        ok("CloudTrail's SNS notification published to the topic reached the queue as is")

    def apply_schedule(self, v):
        sch = self.c["scheduler"]
        p = self.resolved("DetectSchedule")
        t = p["Target"]
        e = t["EcsParameters"]
        net = e["NetworkConfiguration"]["AwsvpcConfiguration"]
        name = f"{self.stack}-detect"
        sch.create_schedule(
            Name=name, ScheduleExpression=p["ScheduleExpression"], FlexibleTimeWindow=p["FlexibleTimeWindow"],
            State=p["State"], Description=p["Description"],
            Target={
                "Arn": t["Arn"], "RoleArn": t["RoleArn"], "RetryPolicy": {"MaximumRetryAttempts": int(t["RetryPolicy"]["MaximumRetryAttempts"])},
                "EcsParameters": {
                    "TaskDefinitionArn": e["TaskDefinitionArn"], "LaunchType": e["LaunchType"], "TaskCount": int(e["TaskCount"]),
                    "NetworkConfiguration": {"awsvpcConfiguration": {"Subnets": net["Subnets"], "SecurityGroups": net["SecurityGroups"], "AssignPublicIp": net["AssignPublicIp"]}},
                },
            },
        )
        got = sch.get_schedule(Name=name)
        gt = got["Target"]
        if (
            got["ScheduleExpression"] != "rate(5 minutes)"
            or gt["Arn"] != self.attrs[("Cluster", "Arn")]
            or gt["RoleArn"] != self.attrs[("SchedulerRole", "Arn")]
            or gt["EcsParameters"]["TaskDefinitionArn"] != self.physical["DetectTaskDefinition"]
            or gt["EcsParameters"]["LaunchType"] != "FARGATE"
            or gt["EcsParameters"]["NetworkConfiguration"]["awsvpcConfiguration"]["Subnets"] != v["subnets"]
        ):
            fail(f"schedule {got}")
        ok("schedule (applied by this checker): rate(5 minutes), RunTask of the detect task definition on Fargate in this cluster, as SchedulerRole")


def ec2_network(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.38.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.38.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName=f"trailhouse-{uuid.uuid4().hex[:8]}", Description="trailhouse tasks", VpcId=vpc)["GroupId"]
    return [subnet], [sg]


def deploy_new_bucket(endpoint):
    """The stack creates the CloudTrail bucket (an organization trail's, with a key prefix and
    SSE-KMS) and its notification, and the lake bucket; every detect destination is on."""
    print("variant new-bucket: CreateCloudTrailBucket=true, organization trail, SSE-KMS trail, new lake (aws:kms), all destinations")
    c = clients(endpoint)
    subnets, sgs = ec2_network(c["ec2"])
    account = c["sts"].get_caller_identity()["Account"]
    u = uuid.uuid4().hex[:10]
    params = {
        "ContainerImage": f"{account}.dkr.ecr.us-east-1.amazonaws.com/trailhouse:test",
        "CloudTrailBucketName": f"trail-{u}",
        "CreateCloudTrailBucket": "true",
        "TrailKeyPrefix": "org-trail",
        "OrganizationId": "o-abcdefghij",
        "TrailKmsKeyArn": f"arn:aws:kms:us-east-1:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "CreateLakeBucket": "true",
        "LakeBucketName": f"lake-{u}",
        "LakeEncryption": "aws:kms",
        "Subnets": ",".join(subnets),
        "SecurityGroups": ",".join(sgs),
        "DetectSettingsFile": "/etc/trailhouse/trailhouse.toml",
        "AlertTopicArn": f"arn:aws:sns:us-east-1:{account}:trailhouse-alerts",
        "AlertEventBusArn": f"arn:aws:events:us-east-1:{account}:event-bus/default",
        "SecurityHubFindings": "true",
        "OrganizationLookups": "true",
    }
    d = Deployment(c, "new-bucket", params)
    d.create()
    v = {"lake_bucket": f"lake-{u}", "lake_prefix": "trailhouse", "subnets": subnets, "security_groups": sgs}
    logs_prefix = "org-trail/AWSLogs/o-abcdefghij/"
    d.check_queue()
    d.check_bucket_encryption("CloudTrailBucket", "AES256", False)
    d.check_bucket_encryption("LakeBucket", "aws:kms", True)
    d.check_roles(v)
    d.check_tasks(v)
    d.apply_queue_policy("s3.amazonaws.com", f"arn:aws:s3:::{params['CloudTrailBucketName']}")
    d.apply_bucket_notification(logs_prefix)
    d.check_trail_bucket_policy(logs_prefix)
    d.apply_lake_bucket_settings()
    d.apply_schedule(v)
    if d.outputs.get("KeyPolicyStatement") is None or json.loads(d.outputs["KeyPolicyStatement"])["Principal"]["AWS"] != d.attrs[("IngestTaskRole", "Arn")]:
        fail(f"KeyPolicyStatement output {d.outputs.get('KeyPolicyStatement')}")
    ok("KeyPolicyStatement output: kms:Decrypt for the ingest role, CloudTrail's encryption context only")
    return d


def deploy_trail_topic(endpoint):
    """An existing trail: its bucket, its SNS topic and the lake bucket exist; the key is the
    trail owner's, in another account; no destination."""
    print("variant trail-topic: an existing trail's bucket and SNS topic, existing lake bucket, trail and key in another account")
    c = clients(endpoint)
    subnets, sgs = ec2_network(c["ec2"])
    u = uuid.uuid4().hex[:10]
    s3, sns = c["s3"], c["sns"]
    s3.create_bucket(Bucket=f"trail-{u}")
    s3.create_bucket(Bucket=f"lake-{u}")
    topic = sns.create_topic(Name=f"trail-{u}")["TopicArn"]
    params = {
        "ContainerImage": "registry.example.com/trailhouse:test",
        "CloudTrailBucketName": f"trail-{u}",
        "CreateCloudTrailBucket": "false",
        "TrailTopicArn": topic,
        "TrailAccountId": "210987654321",
        "TrailKmsKeyArn": "arn:aws:kms:us-east-1:210987654321:key/abcd1234-ab12-cd34-ef56-abcdef123456",
        "CreateLakeBucket": "false",
        "LakeBucketName": f"lake-{u}",
        "LakePrefix": "security/trailhouse",
        "Subnets": ",".join(subnets),
        "SecurityGroups": ",".join(sgs),
    }
    d = Deployment(c, "trail-topic", params)
    d.create()
    for name in ("CloudTrailBucket", "LakeBucket", "CloudTrailBucketPolicy", "LakeBucketPolicy"):
        if name in d.active:
            fail(f"{name} is created although the bucket exists")
    ok("no bucket, bucket policy or notification is created: the existing buckets are left as they are")
    v = {"lake_bucket": f"lake-{u}", "lake_prefix": "security/trailhouse", "subnets": subnets, "security_groups": sgs}
    d.check_queue()
    d.check_roles(v)
    d.check_tasks(v)
    d.apply_queue_policy("sns.amazonaws.com", topic)
    d.apply_subscription(topic)
    d.apply_schedule(v)
    return d


def rule_failures(params):
    """The template's Rules whose assertions fail for `params` (moto does not evaluate
    Rules: CloudFormation refuses such parameters before creating anything)."""
    template = load_template()
    r = Resolver(template, params, {"AWS::AccountId": "123456789012", "AWS::Region": "us-east-1", "AWS::Partition": "aws"})
    out = []
    for name, rule in template.get("Rules", {}).items():
        if "RuleCondition" in rule and not r._cond(rule["RuleCondition"]):
            continue
        if not all(r._cond(a["Assert"]) for a in rule["Assertions"]):
            out.append(name)
    return sorted(out)


def check_rules():
    base = {"ContainerImage": "i", "CloudTrailBucketName": "trail-bucket", "Subnets": "subnet-1", "SecurityGroups": "sg-1"}
    topic = "arn:aws:sns:us-east-1:123456789012:t"
    cases = [
        ({"CreateCloudTrailBucket": "true"}, []),
        ({"TrailTopicArn": topic}, []),
        ({}, ["OneWiringOfTheQueue"]),
        ({"CreateCloudTrailBucket": "true", "TrailTopicArn": topic}, ["OneWiringOfTheQueue"]),
        ({"TrailTopicArn": topic, "CreateLakeBucket": "false"}, ["AnExistingLakeIsNamed"]),
        ({"TrailTopicArn": topic, "CreateLakeBucket": "false", "LakeBucketName": "lake-bucket"}, []),
    ]
    for extra, want in cases:
        got = rule_failures(dict(base, **extra))
        if got != want:
            fail(f"with {extra} the template's Rules refuse {got}, want {want}")
    ok(
        "Rules (evaluated by this checker; moto ignores Rules): exactly one wiring (a new bucket or the trail's "
        "topic), and an existing lake bucket must be named"
    )


def cmd_deploy(args):
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    host = re.match(r"https?://([^:/]+)", args.endpoint)
    if not host or host.group(1) not in ("127.0.0.1", "localhost"):
        fail(f"{args.endpoint}: the deploy check runs only against a local server on 127.0.0.1")
    check_rules()
    stacks = [deploy_new_bucket(args.endpoint), deploy_trail_topic(args.endpoint)]
    print(
        f"deploy: OK: {len(stacks)} stacks ({', '.join(d.stack for d in stacks)}) on {args.endpoint}: queue and DLQ, "
        f"notification and subscription, role policies read back as intended; moto's CloudFormation left out "
        f"{', '.join(sorted(MOTO_SKIPS))}, applied by this checker"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("lint", help="cfn-lint on the template")
    d = sub.add_parser("deploy", help="deploy to the local AWS server and read back")
    d.add_argument("--endpoint", required=True, help="the local server, e.g. http://127.0.0.1:PORT")
    sub.add_parser("iam", help="the binary's IAM actions against the template's")
    args = parser.parse_args()
    try:
        {"lint": cmd_lint, "deploy": cmd_deploy, "iam": cmd_iam}[args.command](args)
    except CheckFailed as e:
        print(f"{args.command}: FAILED: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
