# syntax=docker/dockerfile:1
#
# Secure Application Model tools. Two images from one build:
#   docker build -t sam-rs .                            partner-consent, csp-app, cpv-app
#   docker build --target emulator -t sam-rs-emulator .  the emulated Microsoft cloud
# Run the local stack:  docker compose up        (see README.md, "Docker")
#
# Stage 1 builds the release binaries with the committed Cargo.lock: the production ones
# without default features, so partner-consent links no emulator (`--local` is a development
# feature) and the image carries no fake cloud and no demo passwords; the emulator apart.
# The runtime stages are a slim Debian with only CA certificates, a non-root user, the
# binaries and config/default.toml (the reference of every key). No profile is selected and no
# local profile file is shipped: production configuration comes from SAM_* variables or a
# mounted --config file (see deploy/ and docs/operations.md). The compose stack selects the
# built-in `local` profile itself (SAM_PROFILE=local in docker-compose.yml).

# ---- build ------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS build
# aws-lc-sys (rustls' crypto provider, rcgen's RSA keys) compiles C with cc and may call cmake.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
RUN cargo build --release --locked --no-default-features \
        -p partner-consent -p csp-app -p cpv-app --bins \
 && cargo build --release --locked -p emulator --bins \
 && mkdir -p /out/prod /out/emulator \
 && cp target/release/partner-consent target/release/csp-app target/release/cpv-app /out/prod/ \
 && cp target/release/emulator /out/emulator/

# ---- runtime base -----------------------------------------------------------------------------
FROM debian:bookworm-slim AS base
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 sam \
 && useradd --system --uid 10001 --gid sam --home-dir /app --shell /usr/sbin/nologin sam \
 && mkdir -p /app/.sam-local \
 && chown sam:sam /app/.sam-local \
 && chmod 0700 /app/.sam-local
COPY config/default.toml /app/config/default.toml
# The working directory holds config/ (the loader's default --config-dir) and .sam-local/ (the
# local store's default place; the compose stack mounts a volume there).
WORKDIR /app
USER 10001:10001

# ---- the emulator (test double; the compose stack's `emulator` service) ----------------------
FROM base AS emulator
COPY --from=build /out/emulator/ /usr/local/bin/
EXPOSE 8443
CMD ["emulator", "--help"]

# ---- production binaries (the default target) -------------------------------------------------
FROM base AS runtime
COPY --from=build /out/prod/ /usr/local/bin/
EXPOSE 8080
CMD ["partner-consent", "--help"]
