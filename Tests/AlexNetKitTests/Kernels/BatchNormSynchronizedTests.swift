import AlexNetKit
import Foundation
import TestSupport
import Testing

/// Synchronized batch norm: in one process it is the reference; split among threads standing in
/// for processes (a summing barrier in place of MPI_Allreduce) it is the whole batch's.
@Suite struct BatchNormSynchronizedTests {
  static let shapes: [[Int]] = [[5, 3, 4, 3], [4, 2, 1, 7], [6, 5], [3, 4, 6, 7]]

  @Test(arguments: shapes)
  func oneProcessMatchesReference(_ shape: [Int]) {
    var rng = SeededGenerator(seed: UInt64(shape.reduce(7, +)))
    let c = shape[1]
    let (x, gamma, beta, dy) = (
      rng.tensor(shape) * 2 + 0.5, rng.tensor([c]) + 1, rng.tensor([c]), rng.tensor(shape)
    )
    for p in [BatchNormParameters.pytorch, .keras] {
      var (mean, variance) = (rng.tensor([c]), rng.tensor([c]) + 2)
      var (meanNaive, varianceNaive) = (mean, variance)
      let synced = batchNormForwardTrainingSynchronized(
        p, input: x, gamma: gamma, beta: beta, runningMean: &mean, runningVariance: &variance,
        reduce: { _ in })
      let naive = batchNormForwardTrainingNaive(
        p, input: x, gamma: gamma, beta: beta, runningMean: &meanNaive,
        runningVariance: &varianceNaive)
      #expect(maxRelativeError(synced.output, naive) <= 1e-5)
      #expect(maxRelativeError(mean, meanNaive) <= 1e-5)
      #expect(maxRelativeError(variance, varianceNaive) <= 1e-5)
      let backward = batchNormBackwardTrainingSynchronized(
        input: x, gamma: gamma, statistics: synced.statistics, outputGradient: dy,
        reduce: { _ in })
      let reference = batchNormBackwardTrainingNaive(p, input: x, gamma: gamma, outputGradient: dy)
      #expect(maxRelativeError(backward.input, reference.input) <= 1e-4)
      #expect(maxRelativeError(backward.gamma, reference.gamma) <= 1e-4)
      #expect(maxRelativeError(backward.beta, reference.beta) <= 1e-4)
    }
  }

  /// The synchronized op's backward (one process) against central differences.
  @Test func backwardMatchesFiniteDifferences() {
    var rng = SeededGenerator(seed: 12)
    let x = rng.tensor([3, 2, 3, 2]) * 2
    let (gamma, beta) = (rng.tensor([2]) + 1.5, rng.tensor([2]))
    func forward(_ inputs: [Variable]) -> Variable {
      inputs[0].batchNormSynchronized(
        gamma: inputs[1], beta: inputs[2], runningMean: Variable(Tensor(zeros: [2])),
        runningVariance: Variable(Tensor(shape: [2], repeating: 1)), parameters: .pytorch,
        reduce: { _ in })
    }
    let variables = [x, gamma, beta].map { Variable($0, requiresGradient: true) }
    let y = forward(variables)
    y.backward(gradient: y.value)
    for input in 0..<3 {
      let numeric = numericalGradient(
        of: { halfSumOfSquares(forward($0.map { Variable($0) }).value) }, at: [x, gamma, beta],
        input: input, step: 1e-2)
      #expect(gradientError(variables[input].grad!, numeric) <= 2e-3, "input \(input)")
    }
  }

  /// A batch of 7 split 3 + 4 (and 0 + 7: a process without images) over two threads: the
  /// outputs are the whole batch's, the running averages too, and w_r·dx_r and Σ w_r·dγ_r are
  /// the whole batch's gradients (w_r = n_r/N, the weights of DataParallel's average).
  @Test(arguments: [3, 0])
  func splitBatchMatchesTheWholeBatch(firstPart: Int) {
    var rng = SeededGenerator(seed: 31)
    let (n, c, plane) = (7, 3, 10)
    let x = rng.tensor([n, c, 2, 5]) * 3 + 1
    let (gamma, beta, dy) = (rng.tensor([c]) + 1, rng.tensor([c]), rng.tensor([n, c, 2, 5]))
    var (mean, variance) = (Tensor(zeros: [c]), Tensor(shape: [c], repeating: 1))
    let whole = batchNormForwardTrainingSynchronized(
      .pytorch, input: x, gamma: gamma, beta: beta, runningMean: &mean,
      runningVariance: &variance, reduce: { _ in })
    let wholeGradients = batchNormBackwardTrainingSynchronized(
      input: x, gamma: gamma, statistics: whole.statistics, outputGradient: dy, reduce: { _ in })

    let parts = [0..<firstPart, firstPart..<n]
    let sum = ThreadGroupSum(parties: 2)
    nonisolated(unsafe) var results: [SplitResult?] = [nil, nil]
    DispatchQueue.concurrentPerform(iterations: 2) { part in
      let rows = parts[part]
      let weight = Float(rows.count) / Float(n)
      guard !rows.isEmpty else {
        batchNormSynchronizedAbsentForward(channels: c, reduce: sum.callAsFunction)
        batchNormSynchronizedAbsentBackward(channels: c, reduce: sum.callAsFunction)
        return
      }
      func slice(_ t: Tensor) -> Tensor {
        Tensor(
          shape: [rows.count, c, 2, 5],
          scalars: Array(t.scalars[(rows.lowerBound * c * plane)..<(rows.upperBound * c * plane)]))
      }
      var (m, v) = (Tensor(zeros: [c]), Tensor(shape: [c], repeating: 1))
      let forward = batchNormForwardTrainingSynchronized(
        .pytorch, input: slice(x), gamma: gamma, beta: beta, runningMean: &m,
        runningVariance: &v, reduce: sum.callAsFunction)
      // This part's loss is the mean over its images: its dy is the global one over w_r.
      let backward = batchNormBackwardTrainingSynchronized(
        input: slice(x), gamma: gamma, statistics: forward.statistics,
        outputGradient: slice(dy) / weight, reduce: sum.callAsFunction)
      results[part] = SplitResult(
        output: forward.output, mean: m, variance: v, dx: backward.input * weight,
        dgamma: backward.gamma * weight, dbeta: backward.beta * weight)
    }
    let done = results.compactMap { $0 }
    #expect(done.count == (firstPart == 0 ? 1 : 2))
    let output = Tensor(shape: x.shape, scalars: done.flatMap(\.output.scalars))
    #expect(maxRelativeError(output, whole.output) <= 1e-5)
    let dx = Tensor(shape: x.shape, scalars: done.flatMap(\.dx.scalars))
    #expect(maxRelativeError(dx, wholeGradients.input) <= 1e-4)
    let dgamma = done.map(\.dgamma).reduce(Tensor(zeros: [c]), +)
    let dbeta = done.map(\.dbeta).reduce(Tensor(zeros: [c]), +)
    #expect(maxRelativeError(dgamma, wholeGradients.gamma) <= 1e-4)
    #expect(maxRelativeError(dbeta, wholeGradients.beta) <= 1e-4)
    for result in done {
      #expect(maxRelativeError(result.mean, mean) <= 1e-5)
      #expect(maxRelativeError(result.variance, variance) <= 1e-5)
    }
  }

  struct SplitResult {
    var output, mean, variance, dx, dgamma, dbeta: Tensor
  }
}

/// MPI_Allreduce's sum among threads: each of `parties` calls with its buffer and leaves with
/// the sum of all of them, once every party has arrived.
final class ThreadGroupSum: @unchecked Sendable {
  let parties: Int
  private let condition = NSCondition()
  private var total: [Double] = []
  private var arrived = 0, departed = 0, round = 0

  init(parties: Int) { self.parties = parties }

  func callAsFunction(_ buffer: UnsafeMutableBufferPointer<Double>) {
    condition.lock()
    defer { condition.unlock() }
    while departed > 0 { condition.wait() }  // the previous round is still leaving
    if arrived == 0 { total = [Double](repeating: 0, count: buffer.count) }
    precondition(total.count == buffer.count, "parties reduce buffers of different sizes")
    for i in buffer.indices { total[i] += buffer[i] }
    arrived += 1
    if arrived == parties {
      round += 1
      condition.broadcast()
    } else {
      let current = round
      while round == current { condition.wait() }
    }
    for i in buffer.indices { buffer[i] = total[i] }
    departed += 1
    if departed == parties {
      (arrived, departed) = (0, 0)
      condition.broadcast()
    }
  }
}
