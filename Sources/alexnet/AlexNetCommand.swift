import AlexNetKit
import ArgumentParser

@main
struct AlexNetCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "alexnet",
    abstract: "Train, evaluate and run AlexNet-style convolutional networks on the CPU.",
    subcommands: [Summary.self])
}

extension ModelName: ExpressibleByArgument {}
