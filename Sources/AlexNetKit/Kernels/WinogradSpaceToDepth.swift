// Strided convolutions on the Winograd path, forward and weight gradient (not the input
// gradient): a stride-s convolution with a k×k kernel is a stride-1 convolution with a
// ⌈k/s⌉×⌈k/s⌉ kernel over the input cut into s×s blocks (space to depth, s² channels per input
// channel), its kernel cut the same way and padded with zeros. AlexNet's conv1 (11×11, stride 4)
// becomes a 3×3 convolution over 48 channels of 57×57, which F(2×2, 3×3) or F(4×4, 3×3) compute
// with 1.8 or 3.2 times fewer multiplications than im2col, though the zero padding of the kernel
// (12×12 for 11×11) adds 19%. The view is never stored: the input transform reads each view row
// from the input in place, the filter transform reads each view kernel from the weights, and the
// weight gradient writes each view kernel's cells inside the kernel back to them.

/// A stride-s convolution's input seen as s² times as many channels at stride 1: view channel
/// c·s² + dy·s + dx, cell (y, x) is input channel c, cell (s·y + dy − padTop, s·x + dx − padLeft),
/// zero outside the input; view kernel cell (ty, tx) of that channel is kernel cell
/// (s·ty + dy, s·tx + dx), zero past the kernel's edge.
struct SpaceToDepth: Equatable {
  /// s: the original stride, the side of a block.
  let stride: Int
  let kernel: Int
  /// The original input's channels, planes and padding.
  let channels, height, width, padTop, padLeft: Int

  /// The view of `g`, nil for a stride-1 convolution.
  init?(_ g: ConvGeometry) {
    guard g.stride > 1 else { return nil }
    (stride, kernel) = (g.stride, g.kernel)
    (channels, height, width) = (g.inChannels, g.height, g.width)
    (padTop, padLeft) = (g.padTop, g.padLeft)
  }

  /// ⌈kernel / stride⌉: the side of the view's kernel.
  var taps: Int { (kernel + stride - 1) / stride }
  var blockArea: Int { stride * stride }

  /// View channel `channel`'s input channel and its cell's offsets (dy, dx) within a block.
  func block(_ channel: Int) -> (channel: Int, dy: Int, dx: Int) {
    (channel / blockArea, channel / stride % stride, channel % stride)
  }

  /// View row `row`'s cells 0..<length for view channel `channel` of one image (`image` points at
  /// its first input channel), into `destination`; masks are not supported (the input gradient
  /// does not take this path).
  func gatherRow(
    _ row: Int, channel: Int, image: UnsafePointer<Float>,
    into destination: UnsafeMutablePointer<Float>, length: Int
  ) {
    let (c, dy, dx) = block(channel)
    let inputRow = stride * row + dy - padTop
    guard 0 <= inputRow, inputRow < height else {
      return destination.update(repeating: 0, count: length)
    }
    // View cells first..<last lie inside the input: 0 ≤ s·x + dx − padLeft < width.
    let shift = dx - padLeft
    let first = Swift.min(length, Swift.max(0, (-shift + stride - 1) / stride))
    let last = Swift.max(first, Swift.min(length, (width - shift + stride - 1) / stride))
    let source = image + (c * height + inputRow) * width
    destination.update(repeating: 0, count: first)
    for x in first..<last { destination[x] = source[stride * x + shift] }
    (destination + last).update(repeating: 0, count: length - last)
  }

  /// Where view kernel `index` (output channel · inPerGroup + view channel, `inPerGroup` counted
  /// in view channels) lies in weights of the original layout ([outChannels, inPerGroup / s²,
  /// kernel, kernel]): the offset of its cell (0, 0), the steps between its rows and between its
  /// columns (s apart in the kernel), and how many of its rows and columns lie inside the kernel
  /// (the rest is past the kernel's edge: zero in the forward, dropped in the gradient).
  func kernelCells(_ index: Int, inPerGroup: Int) -> (
    first: Int, rowStride: Int, cellStride: Int, rows: Int, columns: Int
  ) {
    let (output, channel) = (index / inPerGroup, index % inPerGroup)
    let (c, dy, dx) = block(channel)
    let first = ((output * (inPerGroup / blockArea) + c) * kernel + dy) * kernel + dx
    let (rows, columns) = ((kernel - dy + stride - 1) / stride, (kernel - dx + stride - 1) / stride)
    return (first, stride * kernel, stride, rows, columns)
  }

  /// View kernel `index` (as in `kernelCells`) gathered from `weight` into `destination`, taps²
  /// floats.
  func gatherKernel(
    _ index: Int, inPerGroup: Int, weight: UnsafePointer<Float>,
    into destination: UnsafeMutablePointer<Float>
  ) {
    let cells = kernelCells(index, inPerGroup: inPerGroup)
    for ty in 0..<taps {
      for tx in 0..<taps {
        let inside = ty < cells.rows && tx < cells.columns
        let offset = cells.first + ty * cells.rowStride + tx * cells.cellStride
        destination[ty * taps + tx] = inside ? weight[offset] : 0
      }
    }
  }
}

extension WinogradVariant {
  /// Whether this variant computes `g`'s forward pass and weight gradient: at stride 1 as
  /// `supports`, or at a larger stride through space to depth when ⌈kernel / stride⌉ is the
  /// variant's kernel (AlexNet's 11×11 stride-4 conv1 on the 3×3 variants).
  public func supportsForwardAndWeightGradient(_ g: ConvGeometry) -> Bool {
    supports(g) || SpaceToDepth(g)?.taps == kernel
  }
}
