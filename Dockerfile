# edgefn with the functions of functions/, as `make run` serves them, on a small base image.
#   docker build -t edgefn .          (docker-compose.yml builds it for its two gateways)
#
# The image keeps the repository's layout under /edgefn: the manifests in /edgefn/manifests
# name their plugins ../bin/functions/NAME, so the functions are built into
# /edgefn/bin/functions and the manifests are used unchanged.

FROM golang:1.26-alpine AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
# The modules first: this layer is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Plugins are built as `edgefn deploy` builds a `build:` manifest: static, stripped.
RUN go build -ldflags="-s -w" -o /out/bin/edgefn ./cmd/edgefn && \
    mkdir -p /out/bin/functions && \
    for dir in functions/*/; do \
      name=$(basename "$dir"); \
      [ -f "$dir/main.go" ] || continue; \
      echo "go build functions/$name"; \
      go build -ldflags="-s -w" -o "/out/bin/functions/$name" "./$dir" || exit 1; \
    done

FROM alpine:3.22
# wget (busybox) answers the health check; ca-certificates lets --jwks-url and brokers use TLS.
RUN apk add --no-cache ca-certificates && \
    addgroup -S edgefn && adduser -S -G edgefn -h /edgefn edgefn && \
    mkdir -p /var/lib/edgefn && chown edgefn:edgefn /var/lib/edgefn
WORKDIR /edgefn
COPY --from=build /out/bin/ /edgefn/bin/
COPY manifests/ /edgefn/manifests/
COPY examples/web/ /edgefn/examples/web/
USER edgefn
# Functions deployed through the admin API are kept here; mount a volume to keep them.
VOLUME /var/lib/edgefn
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD wget -q -O /dev/null http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/edgefn/bin/edgefn"]
CMD ["serve", "--listen", ":8080", "--manifests", "/edgefn/manifests", "--data-dir", "/var/lib/edgefn", "--static", "/edgefn/examples/web"]
