/// Resampling of RGB images: separable triangle (bilinear) filtering whose support widens by the
/// scale factor when shrinking, so that a 2400x1600 photograph averages every source pixel
/// instead of sampling a few and aliasing (PIL's antialiased bilinear does the same).
extension RGBImage {
  /// This image resized to exactly `width`x`height`.
  public func resized(width newWidth: Int, height newHeight: Int) -> RGBImage {
    precondition(newWidth > 0 && newHeight > 0, "resize to \(newWidth)x\(newHeight)")
    if newWidth == width && newHeight == height { return self }
    let horizontal = ResampleWeights(input: width, output: newWidth)
    let vertical = ResampleWeights(input: height, output: newHeight)
    // Rows first (into floats), then columns. The taps are read from flat arrays by index: with
    // a `zip` per pixel this function was a fifth of a debug build's test time.
    var rows = [Float](repeating: 0, count: height * newWidth * 3)
    pixels.withUnsafeBufferPointer { source in
      rows.withUnsafeMutableBufferPointer { out in
        for y in 0..<height {
          for x in 0..<newWidth {
            var (r, g, b): (Float, Float, Float) = (0, 0, 0)
            for t in horizontal.first[x]..<horizontal.first[x + 1] {
              let (i, weight) = ((y * width + horizontal.offsets[t]) * 3, horizontal.weights[t])
              r += weight * Float(source[i])
              g += weight * Float(source[i + 1])
              b += weight * Float(source[i + 2])
            }
            let o = (y * newWidth + x) * 3
            (out[o], out[o + 1], out[o + 2]) = (r, g, b)
          }
        }
      }
    }
    var result = [UInt8](repeating: 0, count: newHeight * newWidth * 3)
    let rowLength = newWidth * 3
    rows.withUnsafeBufferPointer { rows in
      result.withUnsafeMutableBufferPointer { out in
        for y in 0..<newHeight {
          for x in 0..<rowLength {
            var sum: Float = 0
            for t in vertical.first[y]..<vertical.first[y + 1] {
              sum += vertical.weights[t] * rows[vertical.offsets[t] * rowLength + x]
            }
            out[y * rowLength + x] = UInt8(Swift.max(0, Swift.min(255, sum.rounded())))
          }
        }
      }
    }
    return RGBImage(width: newWidth, height: newHeight, pixels: result)
  }

  /// This image scaled so that its shorter side is `side`, keeping the aspect ratio
  /// (the paper's "rescaled such that the shorter side was of length 256").
  public func resized(shorterSide side: Int) -> RGBImage {
    if width <= height {
      return resized(
        width: side,
        height: Swift.max(1, Int((Double(height) * Double(side) / Double(width)).rounded())))
    }
    return resized(
      width: Swift.max(1, Int((Double(width) * Double(side) / Double(height)).rounded())),
      height: side)
  }

  /// The `width`x`height` region whose top-left corner is (x, y).
  public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> RGBImage {
    precondition(
      x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= width && y + h <= height,
      "crop \(w)x\(h) at (\(x), \(y)) outside a \(width)x\(height) image")
    var out = [UInt8](repeating: 0, count: w * h * 3)
    for row in 0..<h {
      let from = ((y + row) * width + x) * 3
      out.replaceSubrange((row * w * 3)..<((row + 1) * w * 3), with: pixels[from..<(from + w * 3)])
    }
    return RGBImage(width: w, height: h, pixels: out)
  }

  /// The centred `side`x`side` crop (scaled up first when the image is smaller).
  public func centerCropped(side: Int) -> RGBImage {
    let source = width < side || height < side ? resized(shorterSide: side) : self
    return source.cropped(
      x: (source.width - side) / 2, y: (source.height - side) / 2, width: side, height: side)
  }

  /// Mirrored left to right.
  public func flippedHorizontally() -> RGBImage {
    var out = pixels
    for y in 0..<height {
      for x in 0..<width {
        let from = (y * width + (width - 1 - x)) * 3
        let to = (y * width + x) * 3
        (out[to], out[to + 1], out[to + 2]) = (pixels[from], pixels[from + 1], pixels[from + 2])
      }
    }
    return RGBImage(width: width, height: height, pixels: out)
  }
}

/// For each output coordinate, the input coordinates and weights of a triangle filter of
/// radius max(1, input/output), centred on the output pixel's centre in input space.
struct ResampleWeights {
  /// Output coordinate o reads the input coordinates `offsets[first[o]..<first[o + 1]]` with the
  /// weights at the same indices.
  private(set) var first: [Int] = [0]
  private(set) var offsets: [Int] = []
  private(set) var weights: [Float] = []

  init(input: Int, output: Int) {
    let scale = Double(input) / Double(output)
    let support = Swift.max(1, scale)
    for o in 0..<output {
      let center = (Double(o) + 0.5) * scale
      let low = Swift.max(0, Int((center - support).rounded(.down)))
      let high = Swift.min(input - 1, Int((center + support).rounded(.up)))
      var taps: [Int] = []
      var values: [Double] = []
      for i in low...high {
        let weight = Swift.max(0, 1 - abs((Double(i) + 0.5 - center) / support))
        if weight > 0 {
          taps.append(i)
          values.append(weight)
        }
      }
      if taps.isEmpty {
        taps = [Swift.min(input - 1, Swift.max(0, Int(center)))]
        values = [1]
      }
      let total = values.reduce(0, +)
      offsets.append(contentsOf: taps)
      weights.append(contentsOf: values.map { Float($0 / total) })
      first.append(offsets.count)
    }
  }
}
