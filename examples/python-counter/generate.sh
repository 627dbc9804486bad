#!/bin/sh
# Regenerates gen/ from the repository's protos with Debian's protoc 3.21 (protobuf-compiler) and
# grpc_python_plugin (protobuf-compiler-grpc), google/protobuf/*.proto from libprotobuf-dev. Not python3-grpc-tools: it bundles protoc 3.5,
# which rejects proto3 `optional`.
#
# grpc/health/v1/health.proto would generate a Python package named `grpc`, which shadows
# grpcio's own `grpc` module; it is compiled from a copy under oprc_grpc_health/v1/ instead.
# Only the file's import path changes: its proto package (grpc.health.v1) and so the service
# name on the wire (grpc.health.v1.Health) stay the same.
set -eu
# Usage: examples/python-counter/generate.sh [OUTDIR]   (default: gen/ beside this script)
here=$(cd "$(dirname "$0")" && pwd)
protos="$here/../../proto"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/oprc_grpc_health/v1"
cp "$protos/grpc/health/v1/health.proto" "$stage/oprc_grpc_health/v1/health.proto"
out=${1:-"$here/gen"}
rm -rf "$out"
mkdir -p "$out"
protoc -I "$protos" -I "$stage" -I /usr/include \
  --python_out="$out" \
  --grpc_out="$out" \
  --plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)" \
  oprc/common/v1/value.proto oprc/function/v1/function.proto oprc_grpc_health/v1/health.proto
echo "generated $(find "$out" -name '*.py' | wc -l) files in $out (protoc $(protoc --version | cut -d' ' -f2))"
