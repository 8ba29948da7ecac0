# The operator's image: `scenario-operator` on distroless (glibc, no shell), as uid 65532, with
# nothing writable (the chart mounts the root filesystem read-only).
#   docker build -t scenario-operator:0.1.0 .
# Build stage: the whole workspace (cargo resolves every member), release build of one binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY e2e/mzsim e2e/mzsim
COPY e2e/kubelet e2e/kubelet
RUN cargo build --release --locked --bin scenario-operator

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/scenario-operator /usr/local/bin/scenario-operator
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/scenario-operator"]
CMD ["run"]
