import Foundation
import Testing

@testable import AlexNetKit

/// The divergence guard, gradient clipping, mixup and --restore-best on the trainer.
@Suite(.serialized) struct DivergenceGuardTests {
  let helper = TrainerTests()

  func batch(_ folder: ImageFolder, poisoned: Bool = false) throws -> Batch {
    var first: Batch?
    try helper.loader(folder).forEachBatch(epoch: 0) { _, batch in
      if first == nil { first = batch }
    }
    var batch = first!
    if poisoned { batch.images.withUnsafeMutableBufferPointer { $0[5] = .nan } }
    return batch
  }

  /// A step with a NaN input changes no weight and is counted; five in a row stop the run with
  /// one line naming the epoch, the batch and what to try.
  @Test func nonFiniteStepsAreSkippedThenStopTheRun() throws {
    let folder = try helper.syntheticFolder()
    let trainer = helper.trainer(folder, output: nil)
    // Parameters and batch-norm statistics alike.
    let before = trainer.model.stateDict.map { $0.tensor.scalars }
    let place = (epoch: 3, batch: 1, of: 9)
    for step in 1...4 {
      #expect(try trainer.guardedStep(batch(folder, poisoned: true), at: place) == nil)
      #expect(trainer.skippedSteps == step)
    }
    #expect(trainer.model.stateDict.map { $0.tensor.scalars } == before)
    do {
      _ = try trainer.guardedStep(batch(folder, poisoned: true), at: (3, 7, 9))
      Issue.record("a fifth non-finite step in a row did not stop the run")
    } catch let error as TrainingDiverged {
      #expect(error.description.hasPrefix("training diverged in epoch 3, batch 7 of 9: 5 steps"))
      #expect(error.description.contains("--lr") && error.description.contains("--clip-grad-norm"))
      #expect(!error.description.contains("\n"))
    }
    // A sound step in between resets the count.
    let fresh = helper.trainer(folder, output: nil)
    for _ in 0..<4 { _ = try fresh.guardedStep(batch(folder, poisoned: true), at: place) }
    #expect(try fresh.guardedStep(batch(folder), at: place) != nil)
    #expect(try fresh.guardedStep(batch(folder, poisoned: true), at: place) == nil)
  }

  @Test func anExplodingLossStopsTheRunAfterTheFirstEpoch() throws {
    let trainer = helper.trainer(try helper.syntheticFolder(), output: nil)
    let limit = 10 * Float.log(2)
    try trainer.checkExplosion(runningLoss: 1e20, at: (1, 4, 5))  // the first epoch may be wild
    try trainer.checkExplosion(runningLoss: limit * 0.99, at: (2, 4, 5))
    #expect(throws: TrainingDiverged.self) {
      try trainer.checkExplosion(runningLoss: limit * 1.01, at: (2, 4, 5))
    }
    #expect(throws: TrainingDiverged.self) {
      try trainer.checkExplosion(runningLoss: .infinity, at: (4, 1, 5))
    }
    let sound = EpochRecord(
      epoch: 1, loss: 0.7, accuracy: 0.5, top5: 1, validationLoss: 0.69, validationAccuracy: 0.5,
      validationTop5: 1, learningRate: 0.01, seconds: 1)
    var exploded = sound
    exploded.loss = limit * 2
    var nan = sound
    nan.validationLoss = .nan
    #expect(trainer.isSound(sound) && !trainer.isSound(exploded) && !trainer.isSound(nan))
  }

  /// torch.nn.utils.clip_grad_norm_: gradients scaled by max / (norm + 1e-6) when above max.
  @Test func clippingScalesTheGlobalNorm() throws {
    let folder = try helper.syntheticFolder()
    let trainer = helper.trainer(folder, output: nil, optimizer: SGD(learningRate: 0))
    _ = trainer.computeGradients(images: try batch(folder).images, labels: try batch(folder).labels)
    let unclipped = trainer.gradientNorm()
    let direction = trainer.model.namedParameters.compactMap { $0.variable.grad?.scalars }
    #expect(unclipped > 0)
    trainer.clipGradientNorm = Float(unclipped * 2)  // below the limit: untouched
    trainer.clipGradients(norm: unclipped)
    #expect(trainer.model.namedParameters.compactMap { $0.variable.grad?.scalars } == direction)
    trainer.clipGradientNorm = Float(unclipped / 4)
    trainer.clipGradients(norm: unclipped)
    #expect(abs(trainer.gradientNorm() - unclipped / 4) <= 1e-4 * unclipped)
    let clipped = trainer.model.namedParameters.compactMap { $0.variable.grad?.scalars }
    for (a, b) in zip(clipped.joined(), direction.joined()) {
      #expect(abs(a - b / 4) <= 1e-5 * max(abs(b), 1e-6))
    }
    // Through a whole guarded step (other dropout masks, so only the norm is known).
    _ = try trainer.guardedStep(batch(folder), at: (1, 1, 1))
    #expect(abs(trainer.gradientNorm() - unclipped / 4) <= 1e-3 * unclipped)
  }

  /// A run whose last epoch is worse ends with the best epoch's weights under `restoreBest`.
  @Test func restoreBestLoadsTheBestEpoch() throws {
    let folder = try helper.syntheticFolder()
    let directory = try DataFixtures.scratchDirectory()
    let trainer = helper.trainer(folder, output: directory, optimizer: Adam(learningRate: 0.002))
    trainer.restoreBest = true
    var notes: [String] = []
    trainer.onNote = { notes.append($0) }
    try trainer.fit(training: helper.loader(folder), validation: helper.loader(folder), epochs: 4)
    let best = try #require(trainer.bestRecord)
    let kept = try Checkpoint(
      contentsOf: directory.appendingPathComponent("best.safetensors"))
    #expect(kept.epoch == best.epoch)
    let weights = Dictionary(
      uniqueKeysWithValues: trainer.model.stateDict.map { ($0.name, $0.tensor) })
    for (name, tensor) in kept.weights {
      #expect(weights[name]?.scalars == tensor.scalars, "\(name)")
    }
    #expect(
      notes
        == (best.epoch == 4
          ? [] : ["Restored the weights of epoch \(best.epoch), the best (--restore-best)"]))
  }
}

@Suite struct MixupTests {
  @Test func mixesImagesTargetsAndWeightsOfPairs() {
    var g = SeededGenerator(seed: 4)
    let images = Tensor.randomNormal([3, 2, 2, 2], standardDeviation: 1, using: &g)
    let targets = oneHotTargets(labels: [0, 1, 2], classes: 3)
    let permutation = [2, 0, 1]
    let (x, y, w) = Mixup.mix(
      images: images, targets: targets, weights: [1, 2, 3], lambda: 0.7, permutation: permutation)
    for i in 0..<3 {
      for j in 0..<8 {
        let expected =
          0.7 * images.scalars[i * 8 + j] + 0.3 * images.scalars[permutation[i] * 8 + j]
        #expect(abs(x.scalars[i * 8 + j] - expected) < 1e-6)
      }
    }
    #expect(y.scalars == [0.7, 0, 0.3, 0.3, 0.7, 0, 0, 0.3, 0.7].map { Float($0) })
    #expect(zip(w!, [1.6, 1.7, 2.7]).allSatisfy { abs($0 - Float($1)) < 1e-5 }, "\(w!)")
  }

  /// The loss on mixed targets is the mixed loss λ·CE(yᵢ) + (1 − λ)·CE(y_π(i)).
  @Test func mixedTargetsGiveTheMixedLoss() {
    var g = SeededGenerator(seed: 5)
    let logits = Tensor.randomNormal([4, 5], standardDeviation: 2, using: &g)
    let (labels, permuted) = ([0, 3, 1, 4], [3, 1, 4, 0])
    let lambda: Float = 0.35
    let mixed = Mixup.mix(
      images: logits, targets: oneHotTargets(labels: labels, classes: 5), weights: nil,
      lambda: lambda, permutation: [1, 2, 3, 0]
    ).targets
    let loss = softmaxCrossEntropy(logits: logits, targets: mixed).loss
    let first = softmaxCrossEntropy(
      logits: logits, targets: oneHotTargets(labels: labels, classes: 5))
    let second = softmaxCrossEntropy(
      logits: logits, targets: oneHotTargets(labels: permuted, classes: 5))
    #expect(abs(loss - (lambda * first.loss + (1 - lambda) * second.loss)) < 1e-5)
  }

  /// Beta(α, α) has mean 1/2 and variance 1 / (4(2α + 1)); α < 1 piles up near 0 and 1.
  @Test(arguments: [Float(0.2), 1, 4])
  func betaSamplesHaveTheRightMoments(_ alpha: Float) {
    var g = SeededGenerator(seed: 11)
    let samples = (0..<20_000).map { _ in Double(Mixup.sampleBeta(alpha, using: &g)) }
    let mean = samples.reduce(0, +) / Double(samples.count)
    let variance = samples.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(samples.count)
    let expected = 1 / (4 * (2 * Double(alpha) + 1))
    #expect(samples.allSatisfy { $0 >= 0 && $0 <= 1 })
    #expect(abs(mean - 0.5) < 0.01, "mean \(mean)")
    #expect(
      abs(variance - expected) < 0.05 * expected, "variance \(variance), expected \(expected)")
  }

  @Test func mixupTrainingResumesExactly() throws {
    // One BLAS thread for the whole test, as `TrainerTests.resumeIsExact` (see there).
    try withComputeContext(ComputeContext(threadCount: 1)) {
      let helper = TrainerTests()
      let folder = try helper.syntheticFolder()
      let directory = try DataFixtures.scratchDirectory()
      func make() -> Trainer {
        let trainer = helper.trainer(
          folder, output: directory, optimizer: Adam(learningRate: 0.001))
        (trainer.mixupAlpha, trainer.mixupGenerator) = (0.4, SeededGenerator(seed: 8))
        return trainer
      }
      let straight = make()
      try straight.fit(training: helper.loader(folder), validation: nil, epochs: 2)
      let final = straight.model.stateDict.map { $0.tensor.scalars }
      let first = make()
      try first.fit(training: helper.loader(folder), validation: nil, epochs: 1)
      let second = make()
      try second.resume(
        from: Checkpoint(contentsOf: directory.appendingPathComponent("cp-0001.safetensors")),
        source: "cp-0001")
      try second.fit(training: helper.loader(folder), validation: nil, epochs: 2)
      #expect(second.model.stateDict.map { $0.tensor.scalars } == final)
    }
  }
}
