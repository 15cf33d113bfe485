#!/bin/sh
# Regenerates Sources/AlexNetKit/TensorBoard/event.pb.swift and summary.pb.swift from the
# TensorBoard proto subset in Scripts/tensorboard. Run by hand, only when a .proto changes; the
# build never runs it (the generated files are committed).
#
# Needs protoc (Debian: apt-get install protobuf-compiler) and protoc-gen-swift of the same
# swift-protobuf version as Package.swift's, built outside this repository:
#   git clone --branch 1.39.0 https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#   (cd /tmp/swift-protobuf && swift build -c release --product protoc-gen-swift)
#   PROTOC_GEN_SWIFT=/tmp/swift-protobuf/.build/release/protoc-gen-swift \
#     Scripts/generate_tensorboard_swift.sh
set -eu
cd "$(dirname "$0")/.."
plugin="${PROTOC_GEN_SWIFT:-/tmp/swift-protobuf/.build/release/protoc-gen-swift}"
if [ ! -x "$plugin" ]; then
  echo "$plugin: no protoc-gen-swift there (set PROTOC_GEN_SWIFT)" >&2
  exit 1
fi
mkdir -p Sources/AlexNetKit/TensorBoard
protoc --plugin=protoc-gen-swift="$plugin" --proto_path=Scripts/tensorboard \
  --swift_opt=Visibility=Internal --swift_out=Sources/AlexNetKit/TensorBoard \
  Scripts/tensorboard/summary.proto Scripts/tensorboard/event.proto
echo "wrote Sources/AlexNetKit/TensorBoard/event.pb.swift and summary.pb.swift"
