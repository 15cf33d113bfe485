/// Pictures of what a network holds and computes: learned kernels as a tile grid (Krizhevsky et
/// al. 2012, figure 3) and feature maps of one image (the reference tutorial's figures 16-20).
/// Each tile is scaled to its own range, so a weak kernel is as visible as a strong one.
public enum Visualization {
  /// A grid of learned kernels of a convolution weight [out, in, k, k].
  ///
  /// With three input channels each kernel is one colour tile (R, G, B read as the image's
  /// channels, as the paper shows the first layer). Otherwise each row is one kernel and each
  /// column one of its input channels, in grey. Values are scaled per kernel, min to black and
  /// max to white (a constant kernel is mid-grey), then each tile is enlarged `scale` times.
  public static func filterGrid(_ weight: Tensor, scale: Int = 4, gap: Int = 1) -> RGBImage {
    precondition(weight.rank == 4, "filterGrid needs a [out, in, k, k] weight, got \(weight.shape)")
    precondition(scale >= 1 && gap >= 0, "filterGrid: scale \(scale) and gap \(gap)")
    let (out, inputs, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
    let colour = inputs == 3
    let columns = colour ? Int(Double(out).squareRoot().rounded(.up)) : inputs
    let rows = colour ? (out + columns - 1) / columns : out
    let tileW = kw * scale
    let tileH = kh * scale
    var sheet = TileSheet(
      columns: columns, rows: rows, tileWidth: tileW, tileHeight: tileH,
      gap: gap)
    let values = weight.scalars
    let perKernel = inputs * kh * kw
    for o in 0..<out {
      let kernel = values[(o * perKernel)..<((o + 1) * perKernel)]
      let bytes = scaledToBytes(kernel, constant: 128)
      for c in 0..<(colour ? 1 : inputs) {
        let slot = colour ? o : o * inputs + c
        for y in 0..<tileH {
          for x in 0..<tileW {
            let spatial = (y / scale) * kw + x / scale
            let rgb: (UInt8, UInt8, UInt8)
            if colour {
              rgb = (bytes[spatial], bytes[kh * kw + spatial], bytes[2 * kh * kw + spatial])
            } else {
              let v = bytes[c * kh * kw + spatial]
              rgb = (v, v, v)
            }
            sheet.set(slot: slot, x: x, y: y, rgb)
          }
        }
      }
    }
    return sheet.image
  }

  /// Values mapped linearly onto 0...255, the minimum to 0 and the maximum to 255; all to
  /// `constant` when they are equal (or not finite), since there is no range to show.
  static func scaledToBytes<C: Collection>(_ values: C, constant: UInt8) -> [UInt8]
  where C.Element == Float {
    guard let low = values.min(), let high = values.max(), high > low, (high - low).isFinite else {
      return [UInt8](repeating: constant, count: values.count)
    }
    let factor = 255 / (high - low)
    return values.map { UInt8(max(0, min(255, (($0 - low) * factor).rounded()))) }
  }
}

/// A white sheet of equal tiles laid out in rows, with `gap` pixels between and around them.
struct TileSheet {
  let columns: Int, tileWidth: Int, tileHeight: Int, gap: Int
  var image: RGBImage

  init(columns: Int, rows: Int, tileWidth: Int, tileHeight: Int, gap: Int) {
    (self.columns, self.tileWidth) = (columns, tileWidth)
    (self.tileHeight, self.gap) = (tileHeight, gap)
    image = RGBImage(
      width: columns * (tileWidth + gap) + gap,
      height: rows * (tileHeight + gap) + gap, red: 255, green: 255, blue: 255)
  }

  /// Sets pixel (x, y) of tile `slot` (tiles numbered row by row).
  mutating func set(slot: Int, x: Int, y: Int, _ rgb: (UInt8, UInt8, UInt8)) {
    let left = gap + (slot % columns) * (tileWidth + gap)
    let top = gap + (slot / columns) * (tileHeight + gap)
    let index = ((top + y) * image.width + left + x) * 3
    (image.pixels[index], image.pixels[index + 1], image.pixels[index + 2]) = rgb
  }
}
