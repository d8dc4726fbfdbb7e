# The image ghcr.io/nycmeshnet/cutoverbot: a static binary on a distroless non-root base.
# State lives only under state.dir (a volume), so the root filesystem can be read-only.
# Bases are pinned by digest (the multi-arch index of each tag): raising one is a
# reviewed change of this file. The release workflow builds linux/amd64 and linux/arm64;
# the build stage runs on the builder's own platform and cross-compiles.
FROM --platform=$BUILDPLATFORM golang:1.26-alpine@sha256:f1ddd9fe14fffc091dd98cb4bfa999f32c5fc77d2f2305ea9f0e2595c5437c14 AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
    -ldflags "-s -w -X github.com/nycmeshnet/cutoverbot/buildinfo.version=${VERSION} -X github.com/nycmeshnet/cutoverbot/buildinfo.commit=${COMMIT} -X github.com/nycmeshnet/cutoverbot/buildinfo.date=${DATE}" \
    -o /out/cutoverbot ./cmd/cutoverbot

FROM gcr.io/distroless/static-debian12:nonroot@sha256:d093aa3e30dbadd3efe1310db061a14da60299baff8450a17fe0ccc514a16639
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
LABEL org.opencontainers.image.title="cutoverbot" \
      org.opencontainers.image.description="Slack bot that runs the MeshDB stateful cutover, every step behind a second maintainer's approval" \
      org.opencontainers.image.source="https://github.com/nycmeshnet/cutoverbot" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${DATE}"
COPY --from=build /out/cutoverbot /cutoverbot
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/cutoverbot"]
CMD ["serve", "--config", "/etc/cutoverbot/cutover.yaml"]
