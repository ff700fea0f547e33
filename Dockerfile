# georoute container image.
#
#   docker build -t georoute .
#   docker run --rm -p 5300:53/udp -p 5300:53/tcp georoute
#
# The image serves the shipped example configuration from /etc/georoute; mount your own folder
# (zones/, probes/, geoip/, optional server.yaml) over it. Port 53 is bound as a non-root user
# through a file capability on the binary (CAP_NET_BIND_SERVICE only).

# ---- build ----------------------------------------------------------------------------------
FROM rust:1-bookworm AS build

# libcap2-bin: setcap, to give the binary CAP_NET_BIND_SERVICE below.
# Versions are not pinned: bookworm's security updates replace them, and the base image tag
# already fixes the Debian release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# Dependencies first, in a layer that changes only with the manifest (and benches/). cargo
# reads a manifest only when its targets exist: the declared [[bench]] files come along, and
# the library and binary are stubs until the COPY below.
COPY Cargo.toml Cargo.lock ./
COPY benches/ benches/
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo fetch --locked

COPY . .
RUN cargo build --release --locked --bin georoute \
 && install -m 0755 target/release/georoute /usr/local/bin/georoute \
 && setcap cap_net_bind_service=+ep /usr/local/bin/georoute

# The configuration the image ships: the example folders and server.yaml when there is one.
# geoip/ keeps only what the server reads (YAML and .mmdb; the centroids are compiled in).
# The DB-IP files that geoip/fetch-dbip.sh downloads are left out by .dockerignore.
RUN mkdir -p /out/georoute/geoip \
 && cp -r zones probes /out/georoute/ \
 && cp geoip/*.yaml geoip/*.mmdb /out/georoute/geoip/ \
 && if [ -f server.yaml ]; then cp server.yaml /out/georoute/; fi \
 && /usr/local/bin/georoute check --config /out/georoute >/dev/null

# ---- runtime --------------------------------------------------------------------------------
FROM debian:bookworm-slim

LABEL org.opencontainers.image.title="georoute" \
      org.opencontainers.image.description="Health-aware authoritative GeoDNS for geo-replicated container registries" \
      org.opencontainers.image.licenses="MIT"

# ca-certificates: probes verify replicas' TLS against the system roots.
# busybox: only its wget, for the HEALTHCHECK (about 1 MB; the image has no curl).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates busybox \
 && rm -rf /var/lib/apt/lists/*

# A fixed UID/GID so Kubernetes' runAsUser and file ownership on mounted volumes can match it.
RUN groupadd --system --gid 10053 georoute \
 && useradd --system --uid 10053 --gid georoute --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin georoute

# COPY --from keeps the security.capability attribute that setcap wrote (BuildKit, Docker's
# default builder since 23.0, does); setting it in this stage instead would store the binary
# twice, once per layer. Built by a builder that drops it, the server binds port 53 only
# where the container runtime lets any user bind low ports (else: "Permission denied").
COPY --from=build /usr/local/bin/georoute /usr/local/bin/georoute

# Owned by root and read-only for the server, which never writes its configuration.
COPY --from=build /out/georoute /etc/georoute

USER 10053:10053
WORKDIR /etc/georoute

EXPOSE 53/udp 53/tcp 9153/tcp

# /healthz answers "ok" while the process runs. The timeout is Docker's: bookworm's busybox
# wget crashes on its own -T option.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9153/healthz"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/georoute"]
CMD ["serve", "--config", "/etc/georoute", "--dns", "0.0.0.0:53", "--admin", "0.0.0.0:9153"]
