import AlexNetKit
import Testing

@Suite struct WorkspaceTests {
  /// A slot keeps its memory for requests that fit and grows for one that does not.
  @Test func slotsGrowOnlyWhenAskedForMore() {
    let workspace = Workspace()
    let first = workspace.floats(100, slot: 1)
    #expect(workspace.floats(60, slot: 1) == first)
    #expect(workspace.capacity >= 100)
    _ = workspace.floats(1000, slot: 1)
    #expect(workspace.capacity >= 1000)
  }

  /// Shard 0 works in the caller's workspace; the others in workspaces the caller keeps, the same
  /// ones from call to call.
  @Test func shardsKeepTheirWorkspacesBetweenCalls() {
    let workspace = Workspace()
    workspace.prepareShards(3)
    let (one, two) = (workspace.shard(1), workspace.shard(2))
    #expect(workspace.shard(0) === workspace)
    #expect(one !== two && one !== workspace)
    workspace.prepareShards(2)
    workspace.prepareShards(3)
    #expect(workspace.shard(1) === one && workspace.shard(2) === two)
  }

  /// A sharded convolution grows its shards' scratch once; the same call again needs no more.
  @Test func shardedConvolutionScratchIsReused() throws {
    let g = try ConvGeometry(
      batch: 4, inChannels: 3, height: 9, width: 9, outChannels: 5, kernel: 3, stride: 2)
    var rng = SeededGenerator(seed: 5)
    let x = rng.tensor(g.inputShape)
    let w = rng.tensor(g.weightShape)
    let b = rng.tensor([5])
    let workspace = Workspace()
    let first = conv2dForward(g, input: x, weight: w, bias: b, workspace: workspace)
    let capacity = workspace.capacity
    #expect(capacity > 0)
    if Parallel.shardCount(for: g.batch) > 1 { #expect(workspace.shard(1).capacity > 0) }
    let second = conv2dForward(g, input: x, weight: w, bias: b, workspace: workspace)
    #expect(workspace.capacity == capacity)
    #expect(first == second)
  }
}
