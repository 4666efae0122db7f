# Client Cove container image: build the single executable, ship it on a small Debian base as a non-root user.
# docker build -t clientcove . && docker run -p 8080:8080 -v clientcove-data:/data clientcove

# --- build: Bun comes pinned from npm (package.json), so a Node image is all we need ---
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build && ./dist/clientcove version

# --- runtime ---
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 clientcove \
 && useradd --system --uid 10001 --gid clientcove --home-dir /data --shell /usr/sbin/nologin clientcove \
 && mkdir -p /data && chown clientcove:clientcove /data && chmod 0700 /data
COPY --from=build /src/dist/clientcove /usr/local/bin/clientcove
ENV CLIENTCOVE_DATA_DIR=/data \
    CLIENTCOVE_HOST=0.0.0.0 \
    CLIENTCOVE_PORT=8080
USER clientcove
WORKDIR /data
VOLUME /data
EXPOSE 8080
# No curl in the image: the binary asks the running server itself (GET /readyz on CLIENTCOVE_PORT).
HEALTHCHECK --interval=30s --timeout=6s --start-period=10s --retries=3 CMD ["clientcove", "healthcheck"]
# docker stop sends SIGTERM: in-flight requests finish (give it time: docker stop -t 40).
STOPSIGNAL SIGTERM
ENTRYPOINT ["clientcove"]
CMD ["serve"]
