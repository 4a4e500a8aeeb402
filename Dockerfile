# Reference container for `artgen serve`. Build: docker build -t artgen .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p artgen-http --bin artgen

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/artgen --create-home artgen
COPY --from=build /src/target/release/artgen /usr/local/bin/artgen
USER artgen
WORKDIR /var/lib/artgen
ENV ARTGEN_BIND=0.0.0.0:8080 ARTGEN_DATA_DIR=/var/lib/artgen/data ARTGEN_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["artgen"]
CMD ["serve"]
