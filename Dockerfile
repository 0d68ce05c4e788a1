# syntax=docker/dockerfile:1
# TradingBot's production image: a release build, then a slim runtime that
# runs as an unprivileged user. Secrets come from the environment at run
# time (docker-compose.yml, .env), never from the image.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tradingbot-web \
    && cp target/release/tradingbot /usr/local/bin/tradingbot

# The backup job: pg_dump from PostgreSQL's image (the server's version),
# and the binary that seals and uploads the dumps (`tradingbot backup`).
FROM postgres:15 AS backup
COPY --from=build /usr/local/bin/tradingbot /usr/local/bin/tradingbot
COPY deploy/backup/backup.sh /usr/local/bin/backup.sh
ENTRYPOINT ["/bin/sh", "/usr/local/bin/backup.sh"]

# The server (the default target: last).
FROM debian:bookworm-slim
# CA certificates: the exchanges, Telegram and the AI providers over HTTPS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/tradingbot --shell /usr/sbin/nologin tradingbot \
    && mkdir -p /var/lib/tradingbot \
    && chown tradingbot:tradingbot /var/lib/tradingbot
COPY --from=build /usr/local/bin/tradingbot /usr/local/bin/tradingbot
USER tradingbot
WORKDIR /var/lib/tradingbot
ENV TRADINGBOT_BIND=0.0.0.0:8001 \
    TRADINGBOT_DATA_DIR=/var/lib/tradingbot \
    TRADINGBOT_LOG_FORMAT=json
EXPOSE 8001
# The server applies pending migrations at start.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/tradingbot", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/tradingbot"]
CMD ["serve"]
