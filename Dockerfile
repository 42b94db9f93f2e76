# syntax=docker/dockerfile:1
# signalpost as a container: built in the official Rust image, run on a minimal glibc base as a
# non-root user, with its SQLite data (or nothing, on PostgreSQL) in the /data volume.
#
#   docker build -t signalpost .
#   docker build --build-arg RUNTIME_BASE=debian:bookworm-slim -t signalpost:slim .
#   docker run --rm -p 8080:8080 -v signalpost-data:/data signalpost          # demo mode
#   docker run --rm --network host signalpost sandbox --pixel PIXEL1=token    # the sandbox
#
# The runtime stage takes the binary from the stage BINARY_FROM names: `build` (default) compiles
# it here; `prebuilt` copies a `signalpost` binary from the build context (deploy/test-image.sh
# packages a release binary built outside, with no image registry reachable). Either way the
# runtime stage below is the one and only definition of the image. The binary's debug info is
# stripped (its symbols stay, so a backtrace still names functions): 27 MB instead of 113 MB.

ARG RUST_IMAGE=rust:1.88-bookworm
ARG RUNTIME_BASE=gcr.io/distroless/cc-debian12:nonroot
ARG BINARY_FROM=build

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin signalpost \
    && install -D -m 0755 target/release/signalpost /out/signalpost \
    && strip --strip-debug /out/signalpost \
    && install -d -m 0700 /out/data

FROM scratch AS prebuilt
COPY signalpost /out/signalpost
COPY data /out/data

# hadolint ignore=DL3006
FROM ${BINARY_FROM} AS binary

FROM ${RUNTIME_BASE} AS runtime
LABEL org.opencontainers.image.title="signalpost" \
      org.opencontainers.image.description="Server-side conversion gateway to the TikTok Events API" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=binary /out/signalpost /usr/local/bin/signalpost
# The volume's mount point belongs to the runtime user, so a fresh named volume does too.
COPY --from=binary --chown=65532:65532 /out/data /data
# 65532 is distroless's `nonroot`; on other bases the number alone is enough.
USER 65532:65532
WORKDIR /data
# Inside a container the gateway listens on every address; SIGNALPOST_* override the config file.
ENV SIGNALPOST_LISTEN=0.0.0.0:8080 \
    SIGNALPOST_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
# Readiness (store answers, schema current) on SIGNALPOST_LISTEN's port; no curl in the image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/signalpost", "healthcheck"]
# serve stops accepting on SIGTERM, finishes in-flight requests and deliveries, commits, exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/signalpost"]
CMD ["serve"]
