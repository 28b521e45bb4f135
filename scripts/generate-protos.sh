#!/usr/bin/env bash
# Regenerates the committed Swift code for the OTLP protobuf messages, the gRPC TraceService and
# Cinder's own queue format (Libraries/CinderQueueFormat/span_batch.proto).
#
# Inputs: the OTLP .proto files (opentelemetry-proto v1.11.0), which are not part of this repository:
# point OTLP_PROTO_DIR at a checkout (default: ../shared/otlp-proto next to the repository).
# Tools: protoc (Debian `protobuf-compiler`) and the protoc-gen-swift / protoc-gen-grpc-swift-2 plugins.
# If the plugins are not given through PROTOC_GEN_SWIFT / PROTOC_GEN_GRPC_SWIFT, they are built from
# grpc-swift-protobuf 2.4.1 (which pulls swift-protobuf) in a scratch directory; that takes a few minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
proto_dir=${OTLP_PROTO_DIR:-$root/../shared/otlp-proto}
out=$root/Libraries/CinderOTLPProto/Generated

command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
[ -d "$proto_dir/opentelemetry/proto" ] || { echo "no OTLP protos under $proto_dir" >&2; exit 1; }

if [ -z "${PROTOC_GEN_SWIFT:-}" ] || [ -z "${PROTOC_GEN_GRPC_SWIFT:-}" ]; then
  work=${PLUGIN_BUILD_DIR:-/tmp/cinder-protoc-plugins}
  if [ ! -d "$work" ]; then
    git clone -q https://github.com/grpc/grpc-swift-protobuf "$work"
    git -C "$work" checkout -q 2.4.1
  fi
  (cd "$work" && swift build --product protoc-gen-grpc-swift-2 && swift build --product protoc-gen-swift)
  PROTOC_GEN_SWIFT=$work/.build/debug/protoc-gen-swift
  PROTOC_GEN_GRPC_SWIFT=$work/.build/debug/protoc-gen-grpc-swift-2
fi

rm -rf "$out" && mkdir -p "$out"
files=(
  opentelemetry/proto/common/v1/common.proto
  opentelemetry/proto/resource/v1/resource.proto
  opentelemetry/proto/trace/v1/trace.proto
  opentelemetry/proto/collector/trace/v1/trace_service.proto
)
protoc -I "$proto_dir" \
  --plugin=protoc-gen-swift="$PROTOC_GEN_SWIFT" \
  --swift_out="$out" --swift_opt=Visibility=Package --swift_opt=FileNaming=PathToUnderscores \
  "${files[@]}"
# Cinder's own queue format (its .proto lives next to the code that owns it).
queue_dir=$root/Libraries/CinderQueueFormat
rm -rf "$queue_dir/Generated" && mkdir -p "$queue_dir/Generated"
protoc -I "$queue_dir" \
  --plugin=protoc-gen-swift="$PROTOC_GEN_SWIFT" \
  --swift_out="$queue_dir/Generated" --swift_opt=Visibility=Package \
  span_batch.proto
protoc -I "$proto_dir" \
  --plugin=protoc-gen-grpc-swift="$PROTOC_GEN_GRPC_SWIFT" \
  --grpc-swift_out="$out" --grpc-swift_opt=Visibility=Package --grpc-swift_opt=FileNaming=PathToUnderscores \
  --grpc-swift_opt=Client=true --grpc-swift_opt=Server=true \
  opentelemetry/proto/collector/trace/v1/trace_service.proto
ls "$out"
