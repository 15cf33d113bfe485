import AlexNetKit
import Testing

@Test func reshapeSharesStorage() {
  let t = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
  let r = t.reshaped([3, -1])
  #expect(r.shape == [3, 2])
  #expect(r.sharesStorage(with: t))
}
