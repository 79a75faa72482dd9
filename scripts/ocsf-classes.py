#!/usr/bin/env python3
"""Writes crates/query/ocsf/classes-<version>.json: what the OCSF schema asks of the three
classes the `ocsf_api_activity` view writes CloudTrail events as (API Activity 6003,
Authentication 3002, Account Change 3001), compiled from the schema's own source files, so
that a test can check every exported record against its class's required attributes without
the OCSF server.

The schema is ocsf/ocsf-schema (Apache-2.0, its LICENSE is crates/query/ocsf/LICENSE) at the
release tag of the version the view names; the output was made from

    ocsf/ocsf-schema  tag 1.3.0  commit c8bde8c4cc7e93bb4a36e873623bbe099da22fb5

Usage (from the repository root; standard library only, reads a checkout, writes one file):

    git clone https://github.com/ocsf/ocsf-schema /tmp/ocsf-schema
    git -C /tmp/ocsf-schema checkout c8bde8c4cc7e93bb4a36e873623bbe099da22fb5
    python3 scripts/ocsf-classes.py /tmp/ocsf-schema \
        --commit c8bde8c4cc7e93bb4a36e873623bbe099da22fb5
    cp /tmp/ocsf-schema/LICENSE crates/query/ocsf/LICENSE

(`--out` names another output file; by default it is
crates/query/ocsf/classes-<version.json's version>.json.)

How the definitions are resolved, as the schema's compilers (ocsf-server, and ocsf-lib-py's
`ocsf.compile`) do it. Checked against the compiled schemas ocsf/ocsf-lib-py publishes
(schema_cache/schema-{1.1.0,1.3.0,1.5.0}.json at 0e6f0487, Apache-2.0): for the three
classes and every object listed, the same attributes with the same requirement, type,
array-ness, profile and enum members, and the same constraints; the one difference is that
those files also carry the Windows extension's members of observable.type_id (28, 29).

  * `$include` (in a class's or object's `attributes`): the included file's attributes are
    added; where the including definition already has the attribute, each of its own fields
    wins and only missing fields are filled. An included file under `profiles/` is a profile:
    every attribute it adds is marked `"profile": "<name>"`, meaning the attribute belongs to
    the record only when `metadata.profiles` names that profile. A definition that sets
    `"profile": null` on such an attribute makes it part of the class whatever the profiles.
  * `extends`: the parent (resolved the same way, recursively) fills whatever the child does
    not define, field by field; enums are merged member by member (`activity_id` gets
    Unknown 0 and Other 99 from base_event). A child's `constraints` replace its parent's.
  * The category is the class's `category` (or its parent's); `category_uid` is that
    category's uid in categories.json; `class_uid` = category_uid * 1000 + the class's
    `uid`; `type_uid` = class_uid * 100 + activity_id.
  * Each attribute's missing fields (type, is_array, enum members, caption) come from
    dictionary.json; a `type` not ending in `_t` names an object.
  * The datetime profile adds `<name>_dt` (datetime_t, optional, profile datetime) beside
    every timestamp_t attribute.
  * Extensions (extensions/) are not applied: the view writes core OCSF only.

Objects listed are those reached from the classes' required attributes, recursively through
required attributes, plus those the CloudTrail mapping writes into (MAPPED_OBJECTS), each
with all its attributes.
"""

import argparse
import copy
import json
import pathlib
import sys

CLASSES = ["api_activity", "authentication", "account_change"]

# Objects the CloudTrail mapping (tests/data/ocsf/MAPPING.md) writes into, beyond those the
# required attributes reach: listed whole so a test can check attribute names and types too.
MAPPED_OBJECTS = [
    "account",
    "actor",
    "api",
    "cloud",
    "feature",
    "http_request",
    "idp",
    "metadata",
    "network_endpoint",
    "observable",
    "policy",
    "product",
    "request",
    "resource_details",
    "response",
    "service",
    "session",
    "user",
]

# Fields of an attribute definition kept in the output.
KEEP = ("requirement", "type", "object_type", "is_array", "profile", "enum", "deprecated")


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def fill(own, other):
    """Fill what `own` lacks from `other`, recursively for dicts; `own` always wins."""
    for key, value in other.items():
        if key not in own:
            own[key] = copy.deepcopy(value)
        elif isinstance(own[key], dict) and isinstance(value, dict):
            fill(own[key], value)
    return own


class Schema:
    def __init__(self, root):
        self.root = pathlib.Path(root)
        self.version = load(self.root / "version.json")["version"]
        self.dictionary = load(self.root / "dictionary.json")
        self.categories = load(self.root / "categories.json")["attributes"]
        self.events = {}
        for path in sorted((self.root / "events").rglob("*.json")):
            d = load(path)
            self.events[d["name"]] = d
        self.objects = {}
        for path in sorted((self.root / "objects").glob("*.json")):
            d = load(path)
            self.objects[d["name"]] = d
        self._cache = {}

    # -- includes -------------------------------------------------------------------------

    def _included(self, ref):
        """The attributes a `$include` reference adds, and the profile name if it is one."""
        path = self.root / ref
        if path.suffix != ".json":
            path = path.with_suffix(".json")
        d = load(path)
        attrs = self._with_includes(d.get("attributes", {}))[0]
        profile = None
        if d.get("meta") == "profile" or path.parent.name == "profiles":
            profile = d["name"]
            for a in attrs.values():
                if isinstance(a, dict) and "profile" not in a:
                    a["profile"] = profile
        return attrs, profile

    def _with_includes(self, attributes):
        attrs = copy.deepcopy(attributes)
        refs = attrs.pop("$include", [])
        if isinstance(refs, str):
            refs = [refs]
        profiles = []
        for ref in refs:
            inc, profile = self._included(ref)
            if profile:
                profiles.append(profile)
            for name, a in inc.items():
                if name in attrs:
                    fill(attrs[name], a)
                else:
                    attrs[name] = a
        return attrs, profiles

    # -- extends --------------------------------------------------------------------------

    def resolve(self, kind, name):
        key = (kind, name)
        if key in self._cache:
            return self._cache[key]
        table = self.events if kind == "event" else self.objects
        d = table[name]
        attrs, inc_profiles = self._with_includes(d.get("attributes", {}))
        out = {
            "name": d["name"],
            "caption": d.get("caption"),
            "uid": d.get("uid"),
            "category": d.get("category"),
            "extends": [],
            "profiles": list(dict.fromkeys(list(d.get("profiles", [])) + inc_profiles)),
            "constraints": d.get("constraints"),
            "attributes": attrs,
        }
        parent = d.get("extends")
        if parent:
            p = self.resolve(kind, parent)
            out["extends"] = [parent] + p["extends"]
            for a_name, a in p["attributes"].items():
                if a_name in out["attributes"]:
                    fill(out["attributes"][a_name], a)
                else:
                    out["attributes"][a_name] = copy.deepcopy(a)
            if out["category"] is None:
                out["category"] = p["category"]
            if out["constraints"] is None:
                out["constraints"] = p["constraints"]
            out["profiles"] = list(dict.fromkeys(out["profiles"] + p["profiles"]))
        self._cache[key] = out
        return out

    # -- dictionary and finishing ---------------------------------------------------------

    def observable_types(self):
        """observable.type_id's members, which the compilers collect from the `observable`
        numbers on types, dictionary attributes, objects and object attributes."""
        enum = {}
        for name, t in self.dictionary["types"]["attributes"].items():
            if "observable" in t:
                enum[str(t["observable"])] = {"caption": t.get("caption", name)}
        for name, a in self.dictionary["attributes"].items():
            if "observable" in a:
                enum[str(a["observable"])] = {"caption": a.get("caption", name)}
        for name, o in self.objects.items():
            if "observable" in o:
                enum[str(o["observable"])] = {"caption": o.get("caption", name)}
            for a_name, a in o.get("attributes", {}).items():
                if isinstance(a, dict) and "observable" in a:
                    enum[str(a["observable"])] = {"caption": f'{o.get("caption", name)} Object: {a_name}'}
        return enum

    def finish(self, resolved):
        dict_attrs = self.dictionary["attributes"]
        attrs = {}
        for name, a in resolved["attributes"].items():
            a = copy.deepcopy(a)
            if resolved["name"] == "observable" and name == "type_id":
                a.setdefault("enum", {}).update(self.observable_types())
            if name in dict_attrs:
                fill(a, dict_attrs[name])
            t = a.get("type")
            if t and not t.endswith("_t"):
                a["object_type"] = t
            if "@deprecated" in a:
                a["deprecated"] = True
            attrs[name] = a
        for name, a in list(attrs.items()):
            if a.get("type") == "timestamp_t" and name + "_dt" not in attrs:
                dt = copy.deepcopy(a)
                dt.update({"type": "datetime_t", "requirement": "optional", "profile": "datetime"})
                attrs[name + "_dt"] = dt
        return attrs


def enum_key(item):
    """Enum members in numeric order; string-valued enums (http_method) after, by name."""
    k = item[0]
    return (0, int(k), "") if k.lstrip("-").isdigit() else (1, 0, k)


def compact_attr(a):
    out = {}
    for k in KEEP:
        if k not in a or a[k] is None:
            continue
        v = a[k]
        if k == "enum":
            v = {i: m.get("caption") for i, m in sorted(v.items(), key=enum_key)}
        if k == "is_array" and not v:
            continue
        out[k] = v
    out.setdefault("requirement", "optional")
    return out


def compact_attrs(attrs):
    return {n: compact_attr(a) for n, a in sorted(attrs.items())}


def required_paths(schema, attrs, prefix, objects_seen, profile=None, depth=0):
    """Dotted paths of required attributes, recursively through required object attributes;
    `profile` is the profile the path depends on (its own, or the nearest parent's)."""
    out = []
    for name, a in sorted(attrs.items()):
        if a.get("requirement") != "required":
            continue
        path = prefix + name
        prof = a.get("profile") or profile
        entry = {"path": path, "type": a.get("object_type") or a.get("type")}
        if prof:
            entry["profile"] = prof
        out.append(entry)
        ot = a.get("object_type")
        if ot and ot != "object" and ot in schema.objects and depth < 8:
            objects_seen.add(ot)
            sub = schema.finish(schema.resolve("object", ot))
            out += required_paths(schema, sub, path + ".", objects_seen, prof, depth + 1)
    return out


def dump(value, indent=0):
    """JSON with one line per attribute, enum, path or list: compact but diffable."""
    pad = " " * indent
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        items = [f"{pad} {dump(v, indent + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    flat = isinstance(value, list) or (
        isinstance(value, dict)
        and (
            "requirement" in value
            or "path" in value
            or "object" in value
            or "base" in value
            or all(not isinstance(v, (dict, list)) for v in value.values())
        )
    )
    if flat or not isinstance(value, dict) or not value:
        return json.dumps(value, ensure_ascii=False)
    items = [
        f'{pad} {json.dumps(k, ensure_ascii=False)}: {dump(v, indent + 1)}' for k, v in value.items()
    ]
    return "{\n" + ",\n".join(items) + "\n" + pad + "}"


def constraint_paths(schema, attrs, prefix, depth=0, seen=()):
    """Constraints of the objects at each path the mapping can write, by dotted path."""
    out = {}
    for name, a in sorted(attrs.items()):
        ot = a.get("object_type")
        if not ot or ot == "object" or ot not in schema.objects or ot in seen:
            continue
        if ot not in MAPPED_OBJECTS and a.get("requirement") != "required":
            continue
        r = schema.resolve("object", ot)
        path = prefix + name
        if r["constraints"]:
            out[path] = {"object": ot, **r["constraints"]}
        if depth < 3:
            out.update(
                constraint_paths(schema, schema.finish(r), path + ".", depth + 1, seen + (ot,))
            )
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("schema", help="a checkout of ocsf/ocsf-schema at the release to use")
    ap.add_argument("--commit", help="the checkout's commit, recorded in the output")
    ap.add_argument("--out", help="output file (default crates/query/ocsf/classes-<v>.json)")
    args = ap.parse_args()

    schema = Schema(args.schema)
    objects_needed = set()
    classes = {}
    for cname in CLASSES:
        r = schema.resolve("event", cname)
        attrs = schema.finish(r)
        cat = schema.categories[r["category"]]
        class_uid = cat["uid"] * 1000 + r["uid"]
        activity = {
            i: m.get("caption")
            for i, m in sorted(attrs["activity_id"]["enum"].items(), key=enum_key)
        }
        for a in attrs.values():
            if a.get("object_type") and a["object_type"] != "object":
                if a.get("requirement") == "required":
                    objects_needed.add(a["object_type"])
        # The compilers replace base_event's members of these three enums with the class's own.
        attrs["category_uid"]["enum"] = {str(cat["uid"]): {"caption": cat["caption"]}}
        attrs["class_uid"]["enum"] = {str(class_uid): {"caption": r["caption"]}}
        attrs["type_uid"]["enum"] = {
            str(class_uid * 100 + int(i)): {"caption": f'{r["caption"]}: {c}'} for i, c in activity.items()
        }
        paths = required_paths(schema, attrs, "", objects_needed)
        classes[cname] = {
            "name": cname,
            "caption": r["caption"],
            "uid": class_uid,
            "category_uid": cat["uid"],
            "category_name": cat["caption"],
            "extends": r["extends"],
            "profiles": r["profiles"],
            "activity_id": activity,
            "type_uid": {
                str(class_uid * 100 + int(i)): f'{r["caption"]}: {c}' for i, c in activity.items()
            },
            "constraints": r["constraints"] or {},
            "required": sorted(
                n for n, a in attrs.items() if a.get("requirement") == "required" and not a.get("profile")
            ),
            "required_if_profile": {
                p: sorted(
                    n
                    for n, a in attrs.items()
                    if a.get("requirement") == "required" and a.get("profile") == p
                )
                for p in sorted({a["profile"] for a in attrs.values() if a.get("profile")})
                if any(a.get("requirement") == "required" and a.get("profile") == p for a in attrs.values())
            },
            "required_paths": paths,
            "constraint_paths": constraint_paths(schema, attrs, ""),
            "attributes": compact_attrs(attrs),
        }

    objects = {}
    for oname in sorted(objects_needed | set(MAPPED_OBJECTS)):
        if oname not in schema.objects:
            continue
        r = schema.resolve("object", oname)
        objects[oname] = {
            "caption": r["caption"],
            "extends": r["extends"],
            "profiles": r["profiles"],
            "constraints": r["constraints"] or {},
            "required": sorted(
                n
                for n, a in schema.finish(r).items()
                if a.get("requirement") == "required" and not a.get("profile")
            ),
            "attributes": compact_attrs(schema.finish(r)),
        }

    used_types = set()
    for holder in list(classes.values()) + list(objects.values()):
        for a in holder["attributes"].values():
            if a.get("type", "").endswith("_t"):
                used_types.add(a["type"])
    types = {}
    for t in sorted(used_types):
        d = schema.dictionary["types"]["attributes"].get(t, {})
        entry = {"base": d.get("type", t)}
        for k in ("regex", "range", "max_len", "values"):
            if k in d:
                entry[k] = d[k]
        types[t] = entry

    profiles = {}
    for path in sorted((schema.root / "profiles").glob("*.json")):
        d = load(path)
        profiles[d["name"]] = {
            n: a.get("requirement", "optional") for n, a in sorted(d.get("attributes", {}).items())
        }

    out = {
        "ocsf_version": schema.version,
        "source": {
            "repository": "https://github.com/ocsf/ocsf-schema",
            "tag": schema.version,
            "commit": args.commit,
            "license": "Apache-2.0 (crates/query/ocsf/LICENSE)",
        },
        "generated_by": "scripts/ocsf-classes.py",
        "notes": [
            "requirement is the schema's: required, recommended or optional.",
            "An attribute with a profile belongs to a record only when metadata.profiles names "
            "that profile; a required one is then required.",
            "constraints: at_least_one = one or more of the attributes must be present; "
            "just_one = exactly one.",
            "required_paths: the required attributes, recursively through required objects; "
            "constraint_paths: the constraints of the objects at the paths the mapping writes.",
            "type_uid = class_uid * 100 + activity_id; class_uid = category_uid * 1000 + uid.",
        ],
        "profiles": profiles,
        "classes": classes,
        "objects": objects,
        "types": types,
    }

    dest = pathlib.Path(args.out or f"crates/query/ocsf/classes-{schema.version}.json")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "w", encoding="utf-8") as f:
        f.write(dump(out) + "\n")
    print(f"wrote {dest}", file=sys.stderr)


if __name__ == "__main__":
    main()
