# The lap binaries in one image: `lap` (CLI and Jobs) and the four services
# (lap-ingest, lap-enrich, lap-aggregate, lap-sink); the k8s manifests pick
# the binary with `command`.
#
#   docker build -t ghcr.io/lap-analytics/lap:0.1.0 .
#
# Stage 1 builds in the Rust image (librdkafka is compiled from source by
# rdkafka, hence cmake/make and the SSL and SASL headers); the cargo registry
# and target dir are cache mounts, so rebuilds reuse compiled dependencies.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --bins \
 && mkdir -p /out \
 && cp target/release/lap target/release/lap-ingest target/release/lap-enrich \
       target/release/lap-aggregate target/release/lap-sink /out/

# Stage 2: only the binaries and the shared libraries they load, run as a
# non-root user (the manifests also set runAsUser 10001).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin lap
COPY --from=build /out/ /usr/local/bin/
USER 10001:10001
EXPOSE 8080 9464
CMD ["lap", "--help"]
