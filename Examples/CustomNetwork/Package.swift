// swift-tools-version: 6.1
// A package that embeds AlexNetKit by path, as another project would by URL and version.
import PackageDescription

let package = Package(
  name: "CustomNetwork",
  dependencies: [.package(name: "alexnet-swift", path: "../..")],
  targets: [
    .executableTarget(
      name: "CustomNetwork",
      dependencies: [.product(name: "AlexNetKit", package: "alexnet-swift")])
  ]
)
