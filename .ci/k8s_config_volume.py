"""Lays out the configuration folder a georoute pod sees, from the Kubernetes manifests.

    python3 .ci/k8s_config_volume.py DEPLOYMENT_YAML CONFIGMAP_YAML OUT_DIR

Reads the Deployment's projected volume `config` and writes, into OUT_DIR, every ConfigMap key
it projects at the path the kubelet would give it (`items` paths, or the key itself). Secrets
are not in the repo and are skipped (they are optional sources). Fails, as the kubelet would,
when a non-optional ConfigMap or a listed key is missing. `.ci/check-deploy` then runs
`georoute check` on OUT_DIR. Needs PyYAML.
"""

import base64
import os
import sys

import yaml


def main(deployment_path: str, configmap_path: str, out_dir: str) -> int:
    with open(configmap_path, encoding="utf-8") as f:
        maps = {
            doc["metadata"]["name"]: doc
            for doc in yaml.safe_load_all(f)
            if doc and doc.get("kind") == "ConfigMap"
        }
    with open(deployment_path, encoding="utf-8") as f:
        deployment = next(
            d for d in yaml.safe_load_all(f) if d and d.get("kind") == "Deployment"
        )
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    volume = next(v for v in volumes if v["name"] == "config")
    errors = []
    written = 0
    for source in volume["projected"]["sources"]:
        if "configMap" not in source:
            continue
        ref = source["configMap"]
        name = ref["name"]
        optional = ref.get("optional", False)
        cm = maps.get(name)
        if cm is None:
            if not optional:
                errors.append(f"ConfigMap {name} is not in {configmap_path}")
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
            errors.append(f"ConfigMap {name}: key {key} is not projected (add an item)")
        for item in items:
            key, path = item["key"], item["path"]
            if key not in files:
                if not optional:
                    errors.append(f"ConfigMap {name} has no key {key}")
                continue
            target = os.path.join(out_dir, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as out:
                out.write(files[key])
            written += 1
    for e in errors:
        print(f"{deployment_path}: {e}", file=sys.stderr)
    print(f"{written} files projected into {out_dir}")
    return 1 if errors else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
