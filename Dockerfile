# Multi-stage build of the one `wangge` binary, for PostgreSQL in production.
# Build:  docker build -t wangge .
# Run:    docker run -e DATABASE_URL=postgres://… -e WANGGE_JWT_SECRET=… -p 8080:8080 wangge

FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY domain/Cargo.toml domain/Cargo.toml
COPY geo/Cargo.toml geo/Cargo.toml
COPY persistence/Cargo.toml persistence/Cargo.toml
COPY app/Cargo.toml app/Cargo.toml
COPY api/Cargo.toml api/Cargo.toml
COPY tests/Cargo.toml tests/Cargo.toml
RUN for c in domain geo persistence app api; do mkdir -p $c/src && echo "" > $c/src/lib.rs; done \
 && echo "fn main() {}" > api/src/main.rs && mkdir -p geo/benches api/benches tests/api \
 && echo "fn main() {}" > geo/benches/locate.rs && echo "fn main() {}" > api/benches/demo_locate.rs \
 && echo "" > tests/lib.rs && echo "" > tests/api/main.rs \
 && cargo build --release -p wangge-api || true
COPY . .
RUN touch domain/src/lib.rs geo/src/lib.rs persistence/src/lib.rs app/src/lib.rs api/src/lib.rs api/src/main.rs \
 && cargo build --release -p wangge-api --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/wangge --create-home wangge
COPY --from=build /src/target/release/wangge /usr/local/bin/wangge
USER wangge
WORKDIR /var/lib/wangge
ENV WANGGE_BIND=0.0.0.0:8080 WANGGE_DATA_DIR=/var/lib/wangge/data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/wangge"]
CMD ["serve"]
