#!/bin/sh
# Regenerates Sources/AlexNetKit/Export/onnx.pb.swift from Scripts/onnx/onnx.proto. Run by hand,
# only when the .proto changes; the build never runs it (the generated file is committed).
#
# Needs protoc (Debian: apt-get install protobuf-compiler) and protoc-gen-swift of the same
# swift-protobuf version as Package.swift's, built outside this repository:
#   git clone --branch 1.39.0 https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#   (cd /tmp/swift-protobuf && swift build -c release --product protoc-gen-swift)
#   PROTOC_GEN_SWIFT=/tmp/swift-protobuf/.build/release/protoc-gen-swift \
#     Scripts/generate_onnx_swift.sh
#
# onnx.proto is the file the onnx 1.23.2 wheel ships (onnx/onnx.proto, IR version 14; Apache-2.0).
set -eu
cd "$(dirname "$0")/.."
plugin="${PROTOC_GEN_SWIFT:-/tmp/swift-protobuf/.build/release/protoc-gen-swift}"
if [ ! -x "$plugin" ]; then
  echo "$plugin: no protoc-gen-swift there (set PROTOC_GEN_SWIFT)" >&2
  exit 1
fi
protoc --plugin=protoc-gen-swift="$plugin" --proto_path=Scripts/onnx \
  --swift_opt=Visibility=Internal --swift_out=Sources/AlexNetKit/Export Scripts/onnx/onnx.proto
echo "wrote Sources/AlexNetKit/Export/onnx.pb.swift"
