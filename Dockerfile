# Build a static binary, run it on a distroless non-root base. State lives only under
# state.dir (a volume), so the root filesystem can be read-only.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o /out/cutoverbot ./cmd/cutoverbot

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/cutoverbot /cutoverbot
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/cutoverbot"]
CMD ["serve", "--config", "/etc/cutoverbot/cutover.yaml"]
