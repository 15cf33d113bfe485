import Foundation
import Synchronization

/// Scratch memory for the fast kernels (im2col columns, GEMM outputs), kept between calls so the
/// training step does not allocate it again every time. A slot grows to the largest request it
/// has seen and never shrinks. The caller owns it: a kernel is handed one, or borrows its compute
/// context's (`ComputeContext.withWorkspace`); a sharded or chunked kernel gives each shard or
/// chunk one of its caller's (`shard(_:)`).
///
/// Sendable so that a context can carry it; one kernel uses it at a time (contexts lend it to one
/// borrower, and a caller passing it explicitly must not pass it to two kernels at once).
public final class Workspace: @unchecked Sendable {
  private var slots: [(base: UnsafeMutablePointer<Float>, capacity: Int)] = []
  private let lent = Atomic(false)

  public init() {}

  /// At least `count` floats in slot `index`; contents are unspecified. Valid until the next
  /// request for the same slot.
  public func floats(_ count: Int, slot index: Int) -> UnsafeMutablePointer<Float> {
    while slots.count <= index {
      slots.append((UnsafeMutablePointer<Float>.allocate(capacity: 1), 1))
    }
    if slots[index].capacity < count {
      slots[index].base.deallocate()
      let raw = UnsafeMutableRawPointer.allocate(
        byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
      slots[index] = (raw.bindMemory(to: Float.self, capacity: count), count)
    }
    return slots[index].base
  }

  /// Total floats held, for memory reports (with the shards' workspaces).
  public var capacity: Int {
    slots.reduce(0) { $0 + $1.capacity } + shardWorkspaces.reduce(0) { $0 + $1.capacity }
  }

  private var shardWorkspaces: [Workspace] = []

  /// Makes workspaces for shards 0..<count of a sharded kernel called with this one: shard 0 gets
  /// this workspace, the others workspaces it owns. Kept per caller and shard rather than per
  /// thread, so a shard's scratch stays allocated between steps whichever pool thread runs it (the
  /// pool does not keep the same threads, and each new thread's workspace had to grow again).
  /// Call it before the shards start.
  public func prepareShards(_ count: Int) {
    while shardWorkspaces.count < count - 1 { shardWorkspaces.append(Workspace()) }
  }

  /// Shard `index`'s workspace, once prepared (only read, so the shards may ask at once).
  public func shard(_ index: Int) -> Workspace { index == 0 ? self : shardWorkspaces[index - 1] }

  deinit { for slot in slots { slot.base.deallocate() } }

  /// Takes the workspace for one borrower; false when someone else holds it.
  func borrow() -> Bool {
    lent.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
  }

  /// Ends `borrow()`.
  func giveBack() { lent.store(false, ordering: .releasing) }

  /// Runs `body` with `workspace`, or, when nil, with the current compute context's.
  static func using<R>(_ workspace: Workspace?, _ body: (Workspace) throws -> R) rethrows -> R {
    if let workspace { return try body(workspace) }
    return try ComputeContext.current.withWorkspace(body)
  }
}
