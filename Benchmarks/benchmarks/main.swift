import AlexNetKit
import Foundation

// `swift run -c release benchmarks [--json FILE] [--quick] [--only kernels|other-kernels|data|models]
//                                  [--layers conv1,conv3] [--batch 32] [--cores Haswell,Zen] [--data-root ../shared/data]`
// Naive against im2col + GEMM for every AlexNet convolution, with bare SGEMMs of the same shapes;
// LRN and max pooling naive against fast; then the image loader's throughput against the rate a
// training step consumes images; then whole models (training step, inference, peak memory), the
// whole-model forward against the naive kernels, and a per-layer table (`--help` for the rest).

struct Report: Codable {
  var machine: Machine
  var squareSGEMM: [SquareSGEMMRow]
  var convolutions: [ConvolutionRow]
  var sharding: [ShardingRow]
  var winograd: [WinogradRow]
  var otherKernels: [OtherKernelRow]
  var loader: [DataRow]
  var trainingConsumption: [ConsumptionRow]
  var models: [ModelRow]
  var layers: [LayerTable]
  var referenceChecks: [ReferenceCheckRow]
}

struct Machine: Codable {
  var cpu: String
  var cores: Int
  var blasCore: String
  var blasThreads: Int
  var blasNotice: String?
}

struct SquareSGEMMRow: Codable {
  var blasCore: String
  var size: Int
  var gflops: Double
}

let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String) -> String? {
  guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
  return arguments[index + 1]
}
let usage = """
  usage: benchmarks [--only kernels|winograd|other-kernels|data|models|distributed] [--quick] [--batch N] [--layers conv1,conv2,...]
                    [--cores SkylakeX,Zen,...] [--data-root DIR] [--json FILE]
         benchmarks --model-row MODEL --batch N [--quick]     one model's figures as a JSON line
         benchmarks --layer-table MODEL [--batch N] [--quick]  one model's per-layer table
         benchmarks --layer-chain MODEL [--batch N] [--quick]  each layer's inference time inside whole passes
  MODEL: \(ModelName.allCases.map(\.rawValue).joined(separator: ", "))
  """
if arguments.contains("--help") || arguments.contains("-h") {
  print(usage)
  exit(0)
}
do {
  let flags: Set = ["--quick", "--square-sgemm-only"]
  let valued: Set = [
    "--only", "--batch", "--layers", "--cores", "--data-root", "--json", "--model-row",
    "--layer-table", "--layer-chain", "--distributed-result",
  ]
  var index = 0
  while index < arguments.count {
    let argument = arguments[index]
    if valued.contains(argument), index + 1 < arguments.count {
      index += 2
    } else if flags.contains(argument) {
      index += 1
    } else {
      let problem =
        valued.contains(argument) ? "\(argument) needs a value" : "unknown argument '\(argument)'"
      FileHandle.standardError.write(Data("benchmarks: \(problem)\n\(usage)\n".utf8))
      exit(2)
    }
  }
  let sections = ["kernels", "winograd", "other-kernels", "data", "models", "distributed"]
  if let only = option("--only"), !sections.contains(only) {
    FileHandle.standardError.write(
      Data("benchmarks: --only \(only): expected one of \(sections.joined(separator: ", "))\n".utf8)
    )
    exit(2)
  }
  for name in ["--batch"] where option(name).map({ Int($0).map { $0 > 0 } != true }) == true {
    FileHandle.standardError.write(
      Data("benchmarks: \(name) \(option(name)!): expected a positive integer\n".utf8))
    exit(2)
  }
  do {
    _ = try ConvolutionAlgorithmPolicy.fromEnvironment()
  } catch {
    FileHandle.standardError.write(Data("benchmarks: \(error)\n".utf8))
    exit(2)
  }
  for name in ["--model-row", "--layer-table", "--layer-chain"]
  where option(name).map({ ModelName(rawValue: $0) == nil }) == true {
    FileHandle.standardError.write(
      Data("benchmarks: \(name) \(option(name)!): expected a model name\n\(usage)\n".utf8))
    exit(2)
  }
}
let quick = arguments.contains("--quick")
let repetitions = quick ? 3 : 7

// `--only distributed` (never part of the full run: it starts mpirun): a rank under mpirun
// measures and exits; the parent measures one process, starts the ranks and prints the tables.
if option("--only") == "distributed" {
  let batch = Int(option("--batch") ?? "") ?? (quick ? 2 : 4)
  if let world = MPIWorld.launched() {
    withComputeContext(ComputeContext(threadCount: 1)) {
      runDistributedRank(
        world, batch: batch, repetitions: quick ? 2 : 3, result: option("--distributed-result"))
    }
    world.finalize()
    exit(0)
  }
  exit(runDistributedBenchmarks(batch: batch, repetitions: quick ? 2 : 3, quick: quick) ? 0 : 1)
}

// A child run for one BLAS core type: prints a single JSON row and exits.
if arguments.contains("--square-sgemm-only") {
  let row = SquareSGEMMRow(
    blasCore: BLASRuntime.configuration.coreName, size: 2048,
    gflops: squareSGEMMGFLOPs(size: 2048, repetitions: repetitions))
  print(String(decoding: try JSONEncoder().encode(row), as: UTF8.self))
  exit(0)
}

let cpuName =
  ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")
  .split(separator: "\n").first { $0.hasPrefix("model name") }
  .map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) }
  ?? "unknown"
// A child run for one model and batch: prints a single JSON row and exits (its peak memory is its own).
if let spec = option("--model-row"), let name = ModelName(rawValue: spec),
  let batch = Int(option("--batch") ?? "")
{
  let row = measureModel(
    name, batch: batch, repetitions: quick ? 2 : 3, minimumSeconds: quick ? 0.3 : 1)
  print(String(decoding: try JSONEncoder().encode(row), as: UTF8.self))
  exit(0)
}
// The per-layer table alone, for one model at one batch size.
if let spec = option("--layer-table"), let name = ModelName(rawValue: spec) {
  printLayerTable(
    layerTable(name, batch: Int(option("--batch") ?? "") ?? 32, repetitions: quick ? 2 : 3))
  exit(0)
}
// Each layer's inference time inside whole passes, for one model at one batch size.
if let spec = option("--layer-chain"), let name = ModelName(rawValue: spec) {
  printLayerChain(
    layerChain(name, batch: Int(option("--batch") ?? "") ?? 1, passes: quick ? 10 : 30))
  exit(0)
}

let machine = Machine(
  cpu: cpuName, cores: ProcessInfo.processInfo.activeProcessorCount,
  blasCore: BLASRuntime.configuration.coreName, blasThreads: BLASRuntime.threadCount,
  blasNotice: BLASRuntime.configuration.notice)
print(
  "CPU: \(machine.cpu), \(machine.cores) cores; OpenBLAS core \(machine.blasCore), \(machine.blasThreads) threads"
)
if let notice = machine.blasNotice { print("note: \(notice)") }

let only = option("--only")
var squares: [SquareSGEMMRow] = []
var convolutions: [ConvolutionRow] = []
var sharding: [ShardingRow] = []
var winograd: [WinogradRow] = []
var otherKernels: [OtherKernelRow] = []
var loaderRows: [DataRow] = []
var consumption: [ConsumptionRow] = []
var modelRows: [ModelRow] = []
var layerTables: [LayerTable] = []
var referenceChecks: [ReferenceCheckRow] = []

if only == nil || only == "kernels" {
  // Square SGEMM, for this process's core and for any core types named with --cores (each in a
  // child process, since OpenBLAS selects its kernels per process).
  squares = [
    SquareSGEMMRow(
      blasCore: machine.blasCore, size: 2048,
      gflops: squareSGEMMGFLOPs(size: 2048, repetitions: repetitions))
  ]
  for core in (option("--cores")?.split(separator: ",").map(String.init) ?? []) {
    let child = Process()
    child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
    child.arguments = ["--square-sgemm-only"] + (quick ? ["--quick"] : [])
    child.environment = ProcessInfo.processInfo.environment.merging(["ALEXNET_BLAS_CORE": core]) {
      $1
    }
    let pipe = Pipe()
    child.standardOutput = pipe
    try child.run()
    child.waitUntilExit()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    if let line = String(decoding: output, as: UTF8.self).split(separator: "\n").last,
      let row = try? JSONDecoder().decode(SquareSGEMMRow.self, from: Data(line.utf8))
    {
      squares.append(
        SquareSGEMMRow(
          blasCore: "\(row.blasCore) (asked \(core))", size: row.size, gflops: row.gflops))
    }
  }
  print("\nSGEMM 2048x2048x2048, median of \(repetitions)")
  printTable(["OpenBLAS core", "GFLOP/s"], squares.map { [$0.blasCore, format($0.gflops)] })

  let layers = option("--layers").map { Set($0.split(separator: ",").map(String.init)) }
  let batches = option("--batch").map { [1, Int($0)!] } ?? [1, 32]
  convolutions = runConvolutionBenchmarks(
    batches: batches, naiveBatch: 1, repetitions: repetitions, only: layers)
  print(
    "\nAlexNet convolutions (227x227 input, paper's groups): naive vs im2col + SGEMM, median of \(repetitions) ms"
  )
  printTable(
    [
      "layer", "batch", "pass", "naive ms", "GEMM ms", "GFLOP/s", "speedup", "bare SGEMM GFLOP/s",
      "of bare", "max rel err",
    ],
    convolutions.map { r in
      [
        r.layer, "\(r.batch)", r.pass, format(r.naiveMilliseconds), format(r.gemmMilliseconds, 2),
        format(r.gemmGFLOPs),
        r.speedup.map { format($0) + "x" } ?? "-", format(r.bareSGEMMGFLOPs),
        String(format: "%.0f%%", r.efficiency * 100),
        r.maxRelativeError.map { String(format: "%.1e", $0) } ?? "-",
      ]
    })
  print("speedup: naive ms per image / GEMM ms per image; the naive path runs at batch 1 only.")
  winograd = runWinogradBenchmarks(batches: batches, repetitions: repetitions, only: layers)
  printWinogradTable(winograd, repetitions: repetitions)
  if ComputeContext.current.threadCount > 1 {
    let shardBatch = batches.last!
    sharding = runShardingBenchmarks(batch: shardBatch, repetitions: repetitions, only: layers)
    print(
      "\nBatch shards (one per thread, single-threaded GEMMs) vs each GEMM over the whole batch on OpenBLAS's threads;"
    )
    print(
      "forward + backward at batch \(shardBatch), timed alternately, median of \(repetitions) ms")
    printTable(
      ["layer", "sharded ms", "whole-batch ms", "whole / sharded"],
      sharding.map { r in
        [
          r.layer, format(r.shardedMilliseconds, 2), format(r.wholeBatchMilliseconds, 2),
          String(format: "%.2fx", r.wholeBatchMilliseconds / r.shardedMilliseconds),
        ]
      })
  }
}

// `--only winograd`: the kernels section's Winograd table alone (a short run on a shared machine).
if only == "winograd" {
  let layers = option("--layers").map { Set($0.split(separator: ",").map(String.init)) }
  let batches = option("--batch").map { [1, Int($0)!] } ?? [1, 32]
  winograd = runWinogradBenchmarks(batches: batches, repetitions: repetitions, only: layers)
  printWinogradTable(winograd, repetitions: repetitions)
}

if only == nil || only == "kernels" || only == "other-kernels" {
  let batch = option("--batch").flatMap { Int($0) } ?? 32
  otherKernels = runOtherKernelBenchmarks(batch: batch, repetitions: repetitions)
  printOtherKernelTable(otherKernels, batch: batch, repetitions: repetitions)
}

if only == nil || only == "data" {
  if let root = findDataRoot(option("--data-root")) {
    loaderRows = try runDataBenchmarks(dataRoot: root, repetitions: quick ? 2 : 3)
    print(
      "\nImage loader: decode + resize 256 + random crop 224 + flip + normalise, batches of 16 (median of \(quick ? 2 : 3) epochs)"
    )
    printTable(
      ["dataset", "images", "workers", "images/s"],
      loaderRows.map { [$0.dataset, "\($0.images)", "\($0.workers)", format($0.imagesPerSecond)] })
    consumption = runConsumptionBenchmarks(repetitions: quick ? 2 : 3)
    print("\nTraining step (forward, backward, SGD update) consumption, for comparison")
    printTable(
      ["model", "image", "batch", "training images/s"],
      consumption.map {
        [$0.model, "\($0.imageSize)", "\($0.batch)", format($0.trainingImagesPerSecond)]
      })
  } else {
    print("\nImage loader: ../shared/data not found (pass --data-root DIR); skipped")
  }
}

if only == nil || only == "models" {
  let configurations: [(ModelName, Int)] =
    quick
    ? [(.alexnet, 32), (.alexnetTV, 32), (.alexnetBN, 32), (.alexnetBN, 2)]
    : [
      (.alexnet, 32), (.alexnet, 128), (.alexnetTV, 32), (.alexnetTV, 128), (.alexnetBN, 2),
      (.alexnetBN, 32), (.alexnetBN, 128),
      (.alexnet, 1), (.alexnetTV, 1), (.alexnetBN, 1),
    ]
  for (name, batch) in configurations {
    let child = Process()
    child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
    child.arguments =
      ["--model-row", name.rawValue, "--batch", String(batch)] + (quick ? ["--quick"] : [])
    let pipe = Pipe()
    child.standardOutput = pipe
    try child.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    child.waitUntilExit()
    if let line = String(decoding: output, as: UTF8.self).split(separator: "\n").last,
      let row = try? JSONDecoder().decode(ModelRow.self, from: Data(line.utf8))
    {
      modelRows.append(row)
    }
  }
  print(
    "\nWhole models (random data, SGD with momentum and weight decay; each row in its own process)")
  printTable(
    [
      "model", "input", "batch", "train img/s", "step ms", "inference ms", "inference img/s",
      "peak RSS MB", "faults/step",
    ],
    modelRows.map {
      [
        $0.model, "\($0.imageSize)", "\($0.batch)", format($0.trainingImagesPerSecond),
        format($0.trainingStepMilliseconds),
        format($0.inferenceMilliseconds), format($0.inferenceImagesPerSecond),
        format($0.peakResidentMegabytes, 0), format($0.pageFaultsPerStep, 0),
      ]
    })
  referenceChecks = [ModelName.alexnet, .alexnetTV, .alexnetBN].map { referenceCheck($0, batch: 2) }
  print(
    "\nWhole-model forward (batch 2, shards and fused ReLU) against the naive kernels layer by layer"
  )
  printTable(
    ["model", "batch", "max rel err"],
    referenceChecks.map { [$0.model, "\($0.batch)", String(format: "%.1e", $0.maxRelativeError)] })
  for name in [ModelName.alexnet, .alexnetTV] {
    let table = layerTable(name, batch: quick ? 8 : 32, repetitions: quick ? 2 : 3)
    layerTables.append(table)
    printLayerTable(table)
  }
}

if let path = option("--json") {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
  try encoder.encode(
    Report(
      machine: machine, squareSGEMM: squares, convolutions: convolutions, sharding: sharding,
      winograd: winograd,
      otherKernels: otherKernels, loader: loaderRows,
      trainingConsumption: consumption, models: modelRows, layers: layerTables,
      referenceChecks: referenceChecks)
  )
  .write(to: URL(fileURLWithPath: path))
  print("wrote \(path)")
}
if sink == .infinity { print(sink) }
