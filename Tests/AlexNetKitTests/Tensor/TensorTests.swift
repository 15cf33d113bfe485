import AlexNetKit
import TestSupport
import Testing

@Suite struct TensorTests {
  @Test func reshapeSharesStorageAndInfersOneExtent() {
    let t = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    let r = t.reshaped([3, -1])
    #expect(r.shape == [3, 2])
    #expect(r.sharesStorage(with: t))
    #expect(t[1, 2] == 6 && r[2, 1] == 6)
  }

  @Test func copiesDoNotSeeEachOthersWrites() {
    let a = Tensor(shape: [3], scalars: [1, 2, 3])
    var b = a
    b[flat: 0] = 10
    #expect(a.scalars == [1, 2, 3] && b.scalars == [10, 2, 3])
    #expect(!a.sharesStorage(with: b))
  }

  @Test func arithmeticAndReductions() {
    let a = Tensor(shape: [2, 2], scalars: [1, -2, 3, 4])
    let b = Tensor(shape: [2, 2], scalars: [2, 2, 2, 2])
    #expect((a + b).scalars == [3, 0, 5, 6] && (a - b).scalars == [-1, -4, 1, 2])
    #expect((a * b).scalars == [2, -4, 6, 8] && (a / b).scalars == [0.5, -1, 1.5, 2])
    #expect((a * 3).scalars == [3, -6, 9, 12] && (-a).scalars == [-1, 2, -3, -4])
    #expect(a.sum() == 6 && a.mean() == 1.5 && a.max() == 4 && a.min() == -2 && a.argmax() == 3)
    #expect(a.squaredNorm() == 30)
    #expect(a.sum(alongAxis: 0).scalars == [4, 2] && a.sum(alongAxis: 1).scalars == [-1, 7])
    #expect(a.argmaxAlongLastAxis() == [0, 1])
    var c = a
    c.add(b, scaledBy: 0.5)
    #expect(c.scalars == [2, -1, 4, 5])
  }

  @Test func generatorIsSeededAndRestorable() {
    var a = SeededGenerator(seed: 7)
    var b = SeededGenerator(seed: 7)
    #expect((0..<5).map { _ in a.next() } == (0..<5).map { _ in b.next() })
    var restored = SeededGenerator(state: a.state)!
    #expect(restored.next() == a.next())
    #expect(SeededGenerator(state: [0, 0, 0, 0]) == nil)
    var c = SeededGenerator(seed: 8)
    #expect(c.next() != SeededGenerator(seed: 7).state[0])
  }

  /// Moments of the initialisers: mean, standard deviation and bounds as their formulas say.
  @Test func initialisersHaveTheirMoments() {
    var g = SeededGenerator(seed: 1)
    let normal = Tensor.randomNormal([100_000], mean: 1, standardDeviation: 0.01, using: &g)
    #expect(abs(normal.mean() - 1) < 1e-3)
    #expect(abs((normal - 1).squaredNorm() / 100_000 - 1e-4) < 5e-6)
    let glorot = Tensor.glorotUniform([100_000], fanIn: 100, fanOut: 50, using: &g)
    let limit = (6.0 / 150.0).squareRoot()
    #expect(
      glorot.max() <= Float(limit) && glorot.min() >= -Float(limit)
        && glorot.max() > Float(limit) * 0.99)
    let he = Tensor.heNormal([100_000], fanIn: 50, using: &g)
    #expect(abs(he.squaredNorm() / 100_000 - 2.0 / 50) < 2e-3)
  }

  /// A freed large buffer is kept and handed to the next tensor of the same size.
  @Test func largeBuffersAreReused() {
    let count = StoragePool.minimumCount * 3 + 7  // a size no other test uses
    let first = Tensor(zeros: [count]).withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
    let second = Tensor(zeros: [count])
    #expect(second.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } == first)
    #expect(second.sum() == 0)  // reused memory is initialised like fresh memory
    #expect(StoragePool.shared.cachedByteCount <= StoragePool.shared.limitBytes)
  }
}
