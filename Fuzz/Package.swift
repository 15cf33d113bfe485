// swift-tools-version: 6.1
// libFuzzer harnesses for the readers that take untrusted bytes. Not part of the main build: the
// instrumentation flags are given on the command line by `make fuzz` (see Fuzz/README.md), so the
// library itself never carries unsafe flags.
import PackageDescription

let harness = { (name: String) in
  Target.executableTarget(
    name: name,
    dependencies: ["FuzzDriver", .product(name: "AlexNetKit", package: "alexnet-swift")])
}

let package = Package(
  name: "alexnet-fuzz",
  dependencies: [.package(name: "alexnet-swift", path: "..")],
  targets: [
    .target(name: "FuzzDriver"),
    harness("fuzz-safetensors"),
    harness("fuzz-image"),
    harness("fuzz-checkpoint"),
    harness("fuzz-config"),
  ],
  swiftLanguageModes: [.v6]
)
