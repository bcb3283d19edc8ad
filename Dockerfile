# syntax=docker/dockerfile:1.7
# inkan: build with `docker build -t ghcr.io/example/inkan:0.1.0 .` (BuildKit,
# the default builder since Docker 23, is needed for the cache mounts below).
#
# Base images are pinned by tag, not digest: the build machines that wrote
# this file cannot reach a registry to resolve digests. A release pipeline
# that can should pin both by digest (`FROM image:tag@sha256:...`).

# ---- builder: the Rust toolchain on the same Debian release as the runtime,
# so the binary's glibc matches distroless/cc-debian12's.
FROM rust:1-bookworm AS builder
WORKDIR /src

# Only what the build reads: docs, manifests and CI changes do not invalidate
# this layer. Cargo needs every workspace member's manifest and sources
# (core, protocol, client, migrations, bench), even those the binary does
# not link; build scripts compile proto/ with protox (no protoc).
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
COPY core ./core
COPY protocol ./protocol
COPY client ./client
COPY migrations ./migrations
COPY bench ./bench
# Declared in Cargo.toml; cargo checks that their files exist.
COPY benches ./benches
COPY examples ./examples
COPY src ./src

# Dependency caching: the crates.io registry and target/ live in BuildKit
# cache mounts that survive between builds, so a code change recompiles only
# inkan's own crates, not the ~300 dependencies. (A separate "dependencies
# only" layer would need stub sources for three crates and a build script.)
# target/ is a cache mount, so the binary is copied out of it in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin inkan \
 && install -D -m 0755 target/release/inkan /out/inkan

# ---- runtime: glibc, libgcc and CA certificates, no shell, no package
# manager. inkan uses rustls, so it needs no OpenSSL.
FROM gcr.io/distroless/cc-debian12:nonroot

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="inkan" \
      org.opencontainers.image.description="A gRPC token authority for internal services" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/example/inkan" \
      org.opencontainers.image.documentation="https://github.com/example/inkan/blob/main/docs/operations.md" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

COPY --from=builder /out/inkan /usr/local/bin/inkan

# distroless's "nonroot" user, numerically, so Kubernetes' runAsNonRoot can
# check it without reading /etc/passwd.
USER 65532:65532

# gRPC (TokenService, health, reflection) and HTTP (JWKS, discovery).
# Prometheus /metrics listens on metrics_addr (loopback by default; set
# 0.0.0.0:9090 where Prometheus scrapes the pod), deliberately not exposed.
EXPOSE 50051 8080

# No HEALTHCHECK: there is no shell or probe binary in the image, and
# Kubernetes ignores HEALTHCHECK anyway; k8s/deployment.yaml probes inkan's
# gRPC health service instead.
# checkov:skip=CKV_DOCKER_2: no shell or health client in a distroless image; Kubernetes uses gRPC probes (k8s/deployment.yaml)
ENTRYPOINT ["/usr/local/bin/inkan"]
CMD ["serve", "--config", "/etc/inkan/inkan.toml"]
