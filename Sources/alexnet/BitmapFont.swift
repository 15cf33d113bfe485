import AlexNetKit

/// A 5x7 pixel font for captions on contact sheets: capitals, digits and a little punctuation
/// (lower case prints as capitals; anything else as a space).
enum BitmapFont {
  static let glyphs: [Character: [String]] = {
    let table = """
      A: ### |#   #|#   #|#####|#   #|#   #|#   #
      B:#### |#   #|#   #|#### |#   #|#   #|####
      C: ### |#   #|#    |#    |#    |#   #| ###
      D:#### |#   #|#   #|#   #|#   #|#   #|####
      E:#####|#    |#    |#### |#    |#    |#####
      F:#####|#    |#    |#### |#    |#    |#
      G: ### |#   #|#    |# ###|#   #|#   #| ####
      H:#   #|#   #|#   #|#####|#   #|#   #|#   #
      I: ### |  #  |  #  |  #  |  #  |  #  | ###
      J:  ###|   # |   # |   # |   # |#  # | ##
      K:#   #|#  # |# #  |##   |# #  |#  # |#   #
      L:#    |#    |#    |#    |#    |#    |#####
      M:#   #|## ##|# # #|# # #|#   #|#   #|#   #
      N:#   #|#   #|##  #|# # #|#  ##|#   #|#   #
      O: ### |#   #|#   #|#   #|#   #|#   #| ###
      P:#### |#   #|#   #|#### |#    |#    |#
      Q: ### |#   #|#   #|#   #|# # #|#  # | ## #
      R:#### |#   #|#   #|#### |# #  |#  # |#   #
      S: ####|#    |#    | ### |    #|    #|####
      T:#####|  #  |  #  |  #  |  #  |  #  |  #
      U:#   #|#   #|#   #|#   #|#   #|#   #| ###
      V:#   #|#   #|#   #|#   #|#   #| # # |  #
      W:#   #|#   #|#   #|# # #|# # #|# # #| # #
      X:#   #|#   #| # # |  #  | # # |#   #|#   #
      Y:#   #|#   #| # # |  #  |  #  |  #  |  #
      Z:#####|    #|   # |  #  | #   |#    |#####
      0: ### |#   #|#  ##|# # #|##  #|#   #| ###
      1:  #  | ##  |  #  |  #  |  #  |  #  | ###
      2: ### |#   #|    #|   # |  #  | #   |#####
      3:#####|   # |  #  |   # |    #|#   #| ###
      4:   # |  ## | # # |#  # |#####|   # |   #
      5:#####|#    |#### |    #|    #|#   #| ###
      6:  ## | #   |#    |#### |#   #|#   #| ###
      7:#####|    #|   # |  #  | #   | #   | #
      8: ### |#   #|#   #| ### |#   #|#   #| ###
      9: ### |#   #|#   #| ####|    #|   # | ##
      _:     |     |     |     |     |     |#####
      -:     |     |     |#####|     |     |
      .:     |     |     |     |     | ##  | ##
      """
    var glyphs: [Character: [String]] = [:]
    for line in table.split(separator: "\n") {
      let character = line.first!
      glyphs[character] = line.dropFirst(2).split(separator: "|", omittingEmptySubsequences: false)
        .map {
          String($0).padding(toLength: 5, withPad: " ", startingAt: 0)
        }
    }
    return glyphs
  }()

  /// Draws `text` with its top-left corner at (x, y), each font pixel `scale` pixels square.
  static func draw(
    _ text: String, into image: inout RGBImage, x: Int, y: Int, scale: Int = 2,
    color: (UInt8, UInt8, UInt8) = (0, 0, 0)
  ) {
    for (index, character) in text.uppercased().enumerated() {
      guard let rows = glyphs[character] else { continue }
      for (row, bits) in rows.enumerated() {
        for (column, bit) in bits.enumerated() where bit == "#" {
          for dy in 0..<scale {
            for dx in 0..<scale {
              let px = x + (index * 6 + column) * scale + dx
              let py = y + row * scale + dy
              guard px >= 0, py >= 0, px < image.width, py < image.height else { continue }
              let offset = (py * image.width + px) * 3
              (image.pixels[offset], image.pixels[offset + 1], image.pixels[offset + 2]) = color
            }
          }
        }
      }
    }
  }
}

extension RGBImage {
  /// Copies `tile` with its top-left corner at (x, y).
  mutating func paste(_ tile: RGBImage, x: Int, y: Int) {
    for row in 0..<tile.height where y + row < height {
      for column in 0..<tile.width where x + column < width {
        let to = ((y + row) * width + x + column) * 3
        let from = (row * tile.width + column) * 3
        (pixels[to], pixels[to + 1], pixels[to + 2]) = (
          tile.pixels[from], tile.pixels[from + 1], tile.pixels[from + 2]
        )
      }
    }
  }
}
