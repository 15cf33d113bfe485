// swift-format-ignore-file: OrderedImports
// C's `stdout` is a global `var` to Swift, read only in `main` before any thread starts. Glibc is
// the first import: Foundation imports it without `@preconcurrency` and would win.
@preconcurrency import Glibc
import AlexNetKit
import ArgumentParser
import Foundation

@main
struct AlexNetCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "alexnet",
    abstract: "Train, evaluate and run AlexNet-style convolutional networks on the CPU.",
    subcommands: [
      Train.self, Evaluate.self, Predict.self, Summary.self, Features.self, Similar.self,
      Preview.self, Export.self,
      Visualize.self,
    ])

  /// Line-buffered output, so that a log file or a pipe sees each epoch as it ends.
  static func main() {
    setvbuf(stdout, nil, _IOLBF, 0)
    main(nil)
  }
}

extension ModelName: ExpressibleByArgument {}
