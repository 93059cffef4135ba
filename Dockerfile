# syntax=docker/dockerfile:1
#
# Secure Application Model tools: partner-consent, csp-app, cpv-app and the emulator in one
# small image. Build:   docker build -t sam-rs .
# Run the local stack:  docker compose up        (see README.md, "Docker")
#
# Stage 1 builds the four release binaries with the committed Cargo.lock; stage 2 is a slim
# Debian with only CA certificates, a non-root user, the binaries and config/.

# ---- build ------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS build
# aws-lc-sys (rustls' crypto provider, rcgen's RSA keys) compiles C with cc and may call cmake.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
RUN cargo build --release --locked \
        -p partner-consent -p csp-app -p cpv-app -p emulator --bins \
 && mkdir -p /out \
 && cp target/release/partner-consent target/release/csp-app target/release/cpv-app \
       target/release/emulator /out/

# ---- runtime ----------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 sam \
 && useradd --system --uid 10001 --gid sam --home-dir /app --shell /usr/sbin/nologin sam \
 && mkdir -p /app/.sam-local \
 && chown sam:sam /app/.sam-local \
 && chmod 0700 /app/.sam-local
COPY --from=build /out/ /usr/local/bin/
COPY config/ /app/config/
# The working directory holds config/ (the loader's default --config-dir) and .sam-local/ (the
# local profile's store, app certificate and emulator CA; mount a volume there to keep them).
WORKDIR /app
USER sam:sam
ENV SAM_PROFILE=local
# partner-consent (8080) and the emulator (8443), when they are the process that runs.
EXPOSE 8080 8443
CMD ["partner-consent", "--help"]
