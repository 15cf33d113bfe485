import Foundation

/// Wall-clock timing: one warm-up run, then the median of `repetitions` (wall time, as the
/// machine is shared and noisy; compare ratios within one run), or of more runs until they fill
/// `minimumSeconds` (see `timedSamples`).
func medianMilliseconds(
  repetitions: Int, minimumSeconds: Double = 0, warmUp: Bool = true, _ body: () -> Void
) -> Double {
  median(
    timedSamples(repetitions: repetitions, minimumSeconds: minimumSeconds, warmUp: warmUp, body))
}

/// The middle value (the upper of the two middle ones for an even count).
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

/// The milliseconds of at least `repetitions` runs of `body` (one warm-up run first), and past
/// those of more until the runs add up to `minimumSeconds` (at most 10,000): the median of three
/// 13 ms passes is moved by one hiccup of the host, that of a second's worth is not.
func timedSamples(
  repetitions: Int, minimumSeconds: Double = 0, warmUp: Bool = true, _ body: () -> Void
) -> [Double] {
  if warmUp { body() }
  let clock = ContinuousClock()
  var samples: [Double] = []
  var total = 0.0
  while samples.count < max(1, repetitions)
    || (total < minimumSeconds * 1e3 && samples.count < 10_000)
  {
    let elapsed = clock.measure(body)
    samples.append(
      Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) * 1e-15)
    total += samples[samples.count - 1]
  }
  return samples
}

/// Medians of two bodies timed alternately (a, b, a, b...), so both see the same machine state:
/// on a shared machine their ratio is far steadier than that of two separate runs.
func interleavedMedianMilliseconds(repetitions: Int, _ a: () -> Void, _ b: () -> Void) -> (
  Double, Double
) {
  a()
  b()
  let clock = ContinuousClock()
  var first: [Double] = []
  var second: [Double] = []
  func ms(_ d: Duration) -> Double {
    Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) * 1e-15
  }
  for _ in 0..<max(1, repetitions) {
    first.append(ms(clock.measure(a)))
    second.append(ms(clock.measure(b)))
  }
  first.sort()
  second.sort()
  return (first[first.count / 2], second[second.count / 2])
}

/// Medians of several bodies timed in turn (a, b, c, a, b, c...), as
/// `interleavedMedianMilliseconds` does for two.
func interleavedMedians(repetitions: Int, _ bodies: [() -> Void]) -> [Double] {
  for body in bodies { body() }
  let clock = ContinuousClock()
  var samples = [[Double]](repeating: [], count: bodies.count)
  for _ in 0..<max(1, repetitions) {
    for (i, body) in bodies.enumerated() {
      let elapsed = clock.measure(body)
      samples[i].append(
        Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) * 1e-15)
    }
  }
  return samples.map { $0.sorted()[$0.count / 2] }
}

/// Keeps results observable so the optimiser cannot drop the work that produced them.
nonisolated(unsafe) var sink: Float = 0

func gflops(_ flops: Double, milliseconds: Double) -> Double { flops / (milliseconds * 1e-3) / 1e9 }

/// Right-aligned table printing.
func printTable(_ header: [String], _ rows: [[String]]) {
  var widths = header.map(\.count)
  for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
  func line(_ cells: [String]) -> String {
    cells.enumerated().map { i, cell in
      i == 0
        ? cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
        : String(repeating: " ", count: widths[i] - cell.count) + cell
    }.joined(separator: "  ")
  }
  print(line(header))
  print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
  for row in rows { print(line(row)) }
}

func format(_ value: Double?, _ digits: Int = 1) -> String {
  guard let value else { return "-" }
  return String(format: "%.\(digits)f", value)
}
