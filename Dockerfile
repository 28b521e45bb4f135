# Cinder's image: every executable (cinder, cinder-api, cinder-collector, cinder-writer, cinder-runner), built in release
# with the Swift standard library and Foundation linked statically, on a slim Debian runtime that holds only
# the shared libraries the binaries load (Tests/e2e/test_image.py checks that list against `ldd`).
# DWARF debug info is stripped (about 60% of each binary); the symbol table stays, so crash backtraces
# still name every function.
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends librdkafka-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first: they change far less often than Cinder's own code.
# Package.resolved is not committed; a pinned one in the build context is used when present.
COPY Package.swift Package.resolved* ./
RUN swift package resolve
COPY . .
RUN swift build -c release --static-swift-stdlib \
      --product cinder --product cinder-api --product cinder-collector --product cinder-writer --product cinder-runner \
 && mkdir -p /out/bin /out/libexec \
 && bin="$(swift build -c release --static-swift-stdlib --show-bin-path)" \
 && cp "$bin/cinder" "$bin/cinder-api" "$bin/cinder-collector" "$bin/cinder-writer" "$bin/cinder-runner" /out/bin/ \
 && strip --strip-debug /out/bin/* \
 && cp /usr/libexec/swift/linux/swift-backtrace-static /out/libexec/swift-backtrace

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="Cinder" \
      org.opencontainers.image.description="Phoenix-compatible AI observability and evaluation" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
# The shared libraries the binaries load: librdkafka with what it links (SASL, TLS, compression), C++ and
# the C library; bubblewrap and Python for the sandbox code evaluators run in. Debian's security updates
# replace these, so versions are not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      bubblewrap ca-certificates libgcc-s1 liblz4-1 librdkafka1 libsasl2-2 libssl3 libstdc++6 libzstd1 python3 tzdata zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 cinder \
 && useradd --system --uid 10001 --gid cinder --home-dir /var/lib/cinder --create-home --shell /usr/sbin/nologin cinder
COPY --from=build /out/bin/ /usr/local/bin/
COPY --from=build /out/libexec/swift-backtrace /usr/local/libexec/swift-backtrace
# A crash prints every thread's symbolicated backtrace to the log instead of nothing.
ENV SWIFT_BACKTRACE=enable=yes,sanitize=yes,threads=all,images=mentioned,interactive=no,swift-backtrace=/usr/local/libexec/swift-backtrace \
    PHOENIX_WORKING_DIR=/var/lib/cinder \
    CINDER_LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/cinder
# 6006: UI, REST, GraphQL (and OTLP/HTTP for `cinder serve`); 4317 OTLP/gRPC; 4318 the collector's
# OTLP/HTTP; 9464 the writer's and 9465 the runner's health and metrics.
EXPOSE 6006 4317 4318 9464 9465
ENTRYPOINT ["/usr/local/bin/cinder"]
CMD ["serve"]
