// swift-tools-version: 6.1
// AlexNet-style convolutional networks on the CPU: tensors, kernels over OpenBLAS, autograd,
// layers, data pipeline and training. No unsafe compiler flags, so the library can be a dependency.
import PackageDescription

let argumentParser = Target.Dependency.product(
  name: "ArgumentParser", package: "swift-argument-parser")
let realModule = Target.Dependency.product(name: "RealModule", package: "swift-numerics")
let swiftProtobuf = Target.Dependency.product(name: "SwiftProtobuf", package: "swift-protobuf")

let package = Package(
  name: "alexnet-swift",
  products: [
    .library(name: "AlexNetKit", targets: ["AlexNetKit"]),
    .executable(name: "alexnet", targets: ["alexnet"]),
    .executable(name: "benchmarks", targets: ["benchmarks"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
    // The runtime only: onnx.pb.swift is generated once and committed (Scripts/generate_onnx_swift.sh).
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
  ],
  targets: [
    // MARK: - System libraries
    .systemLibrary(
      name: "COpenBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
    .systemLibrary(
      name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
    .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
    // Open MPI, for data-parallel training across processes (used only under mpirun).
    .systemLibrary(
      name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),

    // MARK: - Vector math Swift lowers to scalar code (header-only C, no flags)
    .target(name: "CVectorMath"),

    // MARK: - Library and executables
    .target(
      name: "AlexNetKit",
      dependencies: [
        "COpenBLAS", "CTurboJPEG", "CPNG", "CMPI", "CVectorMath", realModule, swiftProtobuf,
      ]),
    .executableTarget(name: "alexnet", dependencies: ["AlexNetKit", argumentParser, realModule]),
    .executableTarget(
      name: "benchmarks", dependencies: ["AlexNetKit"], path: "Benchmarks/benchmarks"),

    // MARK: - Tests
    .target(name: "TestSupport", dependencies: ["AlexNetKit"], path: "Tests/TestSupport"),
    .testTarget(
      name: "AlexNetKitTests", dependencies: ["AlexNetKit", "TestSupport", swiftProtobuf],
      resources: [.copy("Fixtures")]),
    .testTarget(name: "alexnetTests", dependencies: ["alexnet"]),
  ],
  swiftLanguageModes: [.v6]
)
