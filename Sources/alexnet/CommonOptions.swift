import AlexNetKit
import ArgumentParser
import Foundation

/// Options shared by the commands that compute.
struct ComputeOptions: ParsableArguments {
  @Option(help: "Threads for OpenBLAS and for our own loops (default: all cores).")
  var threads: Int?

  @Option(
    help: "Image decoding threads (default 1: while a model trains, the cores are busy with it).")
  var workers = 1

  /// Four threads per core at most: more only adds stacks and OpenBLAS buffers (100,000 threads
  /// exhausted the memory and hung the process).
  static var maximumThreads: Int { 4 * ProcessInfo.processInfo.activeProcessorCount }

  func validate() throws {
    let range = 1...Self.maximumThreads
    if let threads, !range.contains(threads) {
      throw ValidationError(
        "--threads must be in 1...\(range.upperBound) (four per core), got \(threads)")
    }
    guard range.contains(workers) else {
      throw ValidationError(
        "--workers must be in 1...\(range.upperBound) (four per core), got \(workers)")
    }
  }

  /// Prints OpenBLAS's notice, then runs `body` in the compute context these flags describe,
  /// reporting its errors as `CommandError.reporting` does; an unknown `ALEXNET_CONV_ALGORITHM`
  /// is refused before `body` runs.
  func run(_ body: () throws -> Void) throws {
    if let notice = BLASRuntime.configuration.notice { printError("note: \(notice)") }
    try withComputeContext(ComputeContext(threadCount: threads)) {
      try CommandError.reporting {
        _ = try ConvolutionAlgorithmPolicy.fromEnvironment()
        try body()
      }
    }
  }
}

/// One line to standard error.
func printError(_ text: String) {
  FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// A user error found while running (a file, a folder, weights): printed by the argument parser
/// as one `Error:` line, exit code 1, no usage text and no stack trace.
struct CommandError: Error, CustomStringConvertible, LocalizedError {
  var description: String
  init(_ description: String) { self.description = description }
  var errorDescription: String? { description }

  /// Refuses an output file that is one of the command's inputs (the same file, through any
  /// path or link): outputs are written to a temporary name and renamed, so the input would be
  /// replaced; `export --output` and `features --output` naming `--weights` did just that.
  static func checkOutput(
    _ output: String, flag outputFlag: String = "--output",
    isNot inputs: [(flag: String, path: String?)]
  ) throws {
    var written = stat()
    guard stat(output, &written) == 0 else { return }
    for case (let flag, let path?) in inputs {
      var read = stat()
      if stat(path, &read) == 0, read.st_dev == written.st_dev, read.st_ino == written.st_ino {
        throw CommandError(
          "\(outputFlag) \(output) is the \(flag) file; writing it would replace what is read")
      }
    }
  }

  /// Runs `body`, turning any error other than a flag problem into a one-line CommandError.
  static func reporting(_ body: () throws -> Void) throws {
    do { try body() } catch let error as ValidationError { throw error } catch let error
      as CommandError
    { throw error } catch {
      throw CommandError((error as? LocalizedError)?.errorDescription ?? "\(error)")
    }
  }
}

extension ImageFolder.Subset: ExpressibleByArgument {}

/// The sample dataset in the repository, found from the working directory or beside the binary.
enum SampleData {
  /// The folder given, or else the bundled sample.
  static func folder(_ given: String?) throws -> URL {
    if let given { return URL(fileURLWithPath: given) }
    if let location { return location }
    throw CommandError(
      "no --data given and the bundled sample (Samples/imagenette-mini) "
        + "was not found; "
        + "run from the repository or pass --data DIR")
  }

  static var location: URL? {
    var candidates = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
    var binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
      .deletingLastPathComponent()
    for _ in 0..<5 {
      candidates.append(binary)
      binary = binary.deletingLastPathComponent()
    }
    return candidates.map { $0.appendingPathComponent("Samples/imagenette-mini") }
      .first { FileManager.default.fileExists(atPath: $0.path) }
  }
}
