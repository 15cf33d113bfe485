import Foundation

/// Scratch memory for the fast kernels (im2col columns, GEMM outputs), kept between calls so the
/// training step does not allocate it again every time. A slot grows to the largest request it
/// has seen and never shrinks. One workspace per thread (`Workspace.current`); a sharded kernel
/// gives each shard one of its caller's (`shard(_:)`).
public final class Workspace {
  private var slots: [(base: UnsafeMutablePointer<Float>, capacity: Int)] = []

  public init() {}

  /// At least `count` floats in slot `index`; contents are unspecified. Valid until the next
  /// request for the same slot.
  public func floats(_ count: Int, slot index: Int) -> UnsafeMutablePointer<Float> {
    while slots.count <= index { slots.append((UnsafeMutablePointer<Float>.allocate(capacity: 1), 1)) }
    if slots[index].capacity < count {
      slots[index].base.deallocate()
      let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
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

  private static let key = "AlexNetKit.Workspace"

  /// This thread's workspace, made on first use.
  public static var current: Workspace {
    let dictionary = Thread.current.threadDictionary
    if let existing = dictionary[key] as? Workspace { return existing }
    let made = Workspace()
    dictionary[key] = made
    return made
  }
}
