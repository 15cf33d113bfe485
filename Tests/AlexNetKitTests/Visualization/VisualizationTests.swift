import Foundation
import TestSupport
import Testing

@testable import AlexNetKit

@Suite struct VisualizationTests {
  /// Two 2x2 colour kernels of very different sizes: each is scaled to its own range, so both
  /// reach black and white; the tiles sit where the grid says, enlarged `scale` times.
  @Test func firstLayerKernelsAreColourTilesEachScaledToItsOwnRange() {
    // Kernel 0: red ramps 0...3 (tiny), green and blue constant at its minimum.
    // Kernel 1: the same pattern times 1000 plus an offset.
    var values: [Float] = []
    for factor: Float in [0.001, 1000] {
      values += [0, 1, 2, 3].map { $0 * factor } + [Float](repeating: 0, count: 8)
    }
    values.replaceSubrange(12..<24, with: values[12..<24].map { $0 + 5000 })
    let weight = Tensor(shape: [2, 3, 2, 2], scalars: values)
    let grid = Visualization.filterGrid(weight, scale: 2, gap: 1)
    // Two kernels: a 2x1 grid of 4x4 tiles with 1-pixel gaps.
    #expect(grid.width == 2 * 5 + 1 && grid.height == 5 + 1)
    for (tile, left) in [(0, 1), (1, 6)] {
      #expect(grid[left, 1, 0] == 0, "tile \(tile): the minimum is black")
      #expect(grid[left + 3, 3, 0] == 255, "tile \(tile): the maximum is white")
      #expect(grid[left + 2, 1, 0] == 85, "tile \(tile): 1 of 0...3 is a third")
      #expect(grid[left + 2, 1, 1] == 0 && grid[left, 3, 2] == 0)
    }
    #expect(grid[0, 0, 0] == 255 && grid[5, 2, 1] == 255, "gaps are white")
  }

  @Test func deeperKernelsAreOneGreyRowPerKernelAndAConstantKernelIsMidGrey() {
    var g = SeededGenerator(seed: 3)
    var weight = g.tensor([3, 5, 3, 3])
    weight.withUnsafeMutableBufferPointer { for i in 0..<45 { $0[i] = 0.25 } }
    let grid = Visualization.filterGrid(weight, scale: 1, gap: 0)
    #expect(grid.width == 5 * 3 && grid.height == 3 * 3)
    for x in 0..<15 { #expect(grid[x, 0, 0] == 128 && grid[x, 0, 2] == 128) }
    for y in 3..<9 {
      for x in 0..<15 { #expect(grid[x, y, 0] == grid[x, y, 1]) }
    }
    // Rows 1 and 2 each span black to white over all their input channels.
    for row in 1..<3 {
      var bytes: [UInt8] = []
      for y in (3 * row)..<(3 * row + 3) { for x in 0..<15 { bytes.append(grid[x, y, 0]) } }
      #expect(bytes.min() == 0 && bytes.max() == 255)
    }
  }

  /// The recorded maps follow the layers, with Conv2D and ReLU apart, and the last one is the
  /// model's own output (the fused path gives the same values).
  @Test func featureMapsFollowEveryLayerAndEndAtTheModelOutput() {
    let model = ModelCatalog.make(.small, classes: 5, seed: 2)
    var g = SeededGenerator(seed: 8)
    let input = g.tensor([1, 3, 67, 67])
    let maps = Visualization.featureMaps(of: model, input: input)
    #expect(maps.map(\.name) == model.namedLeaves.map(\.name))
    #expect(maps.first?.kind == "Conv2D" && maps[1].kind == "ReLU")
    let expected = model.inInferenceMode { withGradientsDisabled { model(Variable(input)).value } }
    #expect(maps.last!.value.shape == [1, 5])
    #expect(maxRelativeError(maps.last!.value, expected) < 1e-4)
    var shape = [1, 3, 67, 67]
    for map in maps {
      let leaf = model.namedLeaves.first { $0.name == map.name }!.layer
      shape = try! leaf.outputShape(for: shape)
      #expect(map.value.shape == shape, "\(map.name)")
    }
  }

  @Test func residualBlocksCountAsOneStep() {
    var g = SeededGenerator(seed: 5)
    let conv = Conv2D(
      inChannels: 2, outChannels: 2, kernel: 3, padding: .same,
      initializer: .heNormal, generator: &g)
    let block = Residual(Sequential([conv, ReLU()]))
    let model = Sequential(named: [("block", block), ("relu", ReLU())])
    let maps = Visualization.featureMaps(of: model, input: g.tensor([1, 2, 5, 5]))
    #expect(maps.map(\.name) == ["block", "relu"] && maps[0].kind == "Residual")
  }

  /// One tile per channel, each scaled to its own range onto the colour scale; a channel that
  /// never fires is all at the dark end; a dense output is one tile with blank cells at the end.
  @Test func featureMapGridsScaleEachChannelAndShowDenseOutputs() {
    var values = [Float](repeating: 0, count: 2 * 4 * 4)
    for i in 0..<16 { values[16 + i] = Float(i) * 7 }
    let grid = Visualization.featureMapGrid(
      Tensor(shape: [1, 2, 4, 4], scalars: values),
      minimumTile: 8, gap: 1)
    #expect(grid.width == 2 * 9 + 1 && grid.height == 9 + 1)
    let dark = Visualization.viridis(0)
    let bright = Visualization.viridis(255)
    #expect(dark == (68, 1, 84) && bright == (253, 231, 37))
    func pixel(_ x: Int, _ y: Int) -> [UInt8] { (0..<3).map { grid[x, y, $0] } }
    #expect(pixel(1, 1) == [68, 1, 84] && pixel(8, 8) == [68, 1, 84])
    #expect(pixel(10, 1) == [68, 1, 84] && pixel(17, 8) == [253, 231, 37])
    let seven = Tensor(shape: [1, 7], scalars: (0..<7).map(Float.init))
    let dense = Visualization.featureMapGrid(seven, minimumTile: 3, gap: 0)
    // 7 values in 3 columns and 3 rows, scaled to at least 12 pixels: 4 per cell.
    #expect(dense.width == 12 && dense.height == 12)
    #expect(dense[11, 11, 0] == 255 && dense[5, 9, 0] == 255, "blanks")
    #expect(dense[1, 9, 0] == 253, "the last value is the maximum")
  }

  @Test func activationPageWritesEveryMapAndAnOrderedPage() throws {
    let model = ModelCatalog.make(.small, classes: 4, seed: 1)
    let directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("activations-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    var g = SeededGenerator(seed: 2)
    let pixels = (0..<(80 * 70 * 3)).map { _ in UInt8.random(in: 0...255, using: &g) }
    let image = RGBImage(width: 80, height: 70, pixels: pixels)
    let page = try ActivationPage(
      model: model, image: image,
      preprocessing: Preprocessing(side: 64, normalization: .imageNet),
      title: "small <test>", directory: directory)
    #expect(page.files.count == model.namedLeaves.count + 2)
    for file in page.files { #expect(FileManager.default.fileExists(atPath: file.path)) }
    let html = try String(contentsOf: page.files[0], encoding: .utf8)
    #expect(html.contains("<title>small &lt;test&gt;</title>"))
    #expect(html.contains("<code>1 × 48 × 32 × 32</code>"))
    let positions = model.namedLeaves.map { html.range(of: "\"\($0.name) ")!.lowerBound }
    #expect(positions == positions.sorted())
    let first = try ImageDecoder.decode(contentsOf: page.files[2])
    #expect(first.width > 32 && first.height == first.width)
  }
}
