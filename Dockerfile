# trellis's controller image, for users with Docker (or buildx for both
# platforms: docker buildx build --platform linux/amd64,linux/arm64 .).
# `make image` builds the same image without Docker (tools/release).
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
      -ldflags "-s -w -X github.com/trellis-dev/trellis/pkg/version.Version=$VERSION" \
      -o /out/trellis ./cmd/trellis && \
    mkdir -p /out/tmp /out/home/nonroot && chmod 1777 /out/tmp && \
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >/out/passwd && \
    printf 'root:x:0:\nnonroot:x:65532:\n' >/out/group

# No shell, no package manager: the binary, the CA bundle, a nonroot user.
FROM scratch
ARG VERSION=dev
LABEL org.opencontainers.image.title="trellis" \
      org.opencontainers.image.description="kro-compatible resource graphs for Kubernetes, with ACK-compatible AWS controllers" \
      org.opencontainers.image.source="https://github.com/trellis-dev/trellis" \
      org.opencontainers.image.version="$VERSION"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/group /etc/group
COPY --from=build --chown=65532:65532 /out/home/nonroot /home/nonroot
COPY --from=build /out/tmp /tmp
COPY --from=build /out/trellis /usr/local/bin/trellis
ENV PATH=/usr/local/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
EXPOSE 8078 8079
ENTRYPOINT ["/usr/local/bin/trellis", "controller"]
