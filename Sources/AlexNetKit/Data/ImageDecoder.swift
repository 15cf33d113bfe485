import CPNG
import CTurboJPEG
import Foundation

/// Decodes JPEG (libjpeg-turbo's TurboJPEG API) and PNG (libpng's simplified API) files to 8-bit
/// RGB. The format comes from the file's first bytes, not its name. Grayscale, CMYK and
/// progressive JPEGs, and PNGs with a palette, transparency, gray or 16 bits per channel, all
/// become RGB. Files are untrusted: the declared size is checked against `maximumSide` and
/// `maximumPixels` before any pixel memory is allocated, and every failure is a `FileError` with
/// the path and the reason.
public enum ImageDecoder {
  /// Largest accepted width or height (a decompression bomb declares far more).
  public static let maximumSide = 20_000
  /// Largest accepted pixel count (100 megapixels).
  public static let maximumPixels = 100_000_000
  /// Largest accepted ratio of the longer side to the shorter. A 1x20000 strip passes the limits
  /// above in 163 bytes, yet resizing its shorter side to 256 makes a 256x5,120,000 image (4 GB);
  /// no photograph a classifier is meant for is that narrow, and the resize stays bounded by it.
  public static let maximumAspectRatio = 50

  public enum Format: String, Sendable { case jpeg, png }

  /// The format of an encoded image, from its signature.
  public static func format(of bytes: [UInt8]) -> Format? {
    if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
    if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
    return nil
  }

  public static func decode(contentsOf url: URL) throws -> RGBImage {
    let data = try FileError.readRegularFile(url, expected: "a JPEG or PNG image")
    return try decode(bytes: [UInt8](data), name: url.path)
  }

  /// Decodes encoded bytes; `name` labels errors.
  public static func decode(bytes: [UInt8], name: String) throws -> RGBImage {
    guard !bytes.isEmpty else { throw FileError(name, "is empty") }
    switch format(of: bytes) {
    case .jpeg: return try decodeJPEG(bytes, name: name)
    case .png: return try decodePNG(bytes, name: name)
    case nil: throw FileError(name, "is not a JPEG or PNG image (unrecognised signature)")
    }
  }

  static func checkSize(width: Int, height: Int, name: String) throws {
    guard width > 0, height > 0 else {
      throw FileError(name, "declares an empty image (\(width)x\(height))")
    }
    guard width <= maximumSide, height <= maximumSide, width * height <= maximumPixels else {
      throw FileError(
        name,
        "declares \(width)x\(height) pixels, more than the \(maximumSide)-pixel side or "
          + "\(maximumPixels / 1_000_000)-megapixel limit")
    }
    guard max(width, height) <= maximumAspectRatio * min(width, height) else {
      throw FileError(
        name,
        "declares \(width)x\(height) pixels, beyond the 1:\(maximumAspectRatio) aspect-ratio "
          + "limit (resizing it would take too much memory)")
    }
  }

  static func decodeJPEG(_ bytes: [UInt8], name: String) throws -> RGBImage {
    guard let handle = tjInitDecompress() else {
      throw FileError(name, "cannot start the JPEG decoder")
    }
    defer { tjDestroy(handle) }
    func failure(_ stage: String) -> FileError {
      FileError(
        name, "is not a readable JPEG (\(stage): \(String(cString: tjGetErrorStr2(handle))))")
    }
    var width: Int32 = 0
    var height: Int32 = 0
    var subsampling: Int32 = 0
    var colorspace: Int32 = 0
    let headerStatus = bytes.withUnsafeBufferPointer {
      tjDecompressHeader3(
        handle, $0.baseAddress, UInt(bytes.count), &width, &height, &subsampling, &colorspace)
    }
    guard headerStatus == 0 else { throw failure("header") }
    try checkSize(width: Int(width), height: Int(height), name: name)
    let w = Int(width)
    let h = Int(height)
    // libjpeg cannot convert CMYK to RGB itself: decode CMYK, then convert.
    let cmyk = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
    let channels = cmyk ? 4 : 3
    var decoded = [UInt8](repeating: 0, count: w * h * channels)
    let flags = Int32(TJFLAG_ACCURATEDCT)
    let status = bytes.withUnsafeBufferPointer { source in
      decoded.withUnsafeMutableBufferPointer { out in
        tjDecompress2(
          handle, source.baseAddress, UInt(bytes.count), out.baseAddress, width, 0, height,
          Int32(cmyk ? TJPF_CMYK.rawValue : TJPF_RGB.rawValue), flags)
      }
    }
    if status != 0 {
      // Real ImageNet files carry harmless warnings ("extraneous bytes before marker") that
      // other decoders accept; a fatal error or missing data is a bad file. libjpeg spells the
      // latter "Premature end of JPEG file" and "Corrupt JPEG data: premature end of data segment".
      let message = String(cString: tjGetErrorStr2(handle)).lowercased()
      guard tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue),
        !message.contains("premature end")
      else {
        throw failure("data")
      }
    }
    guard cmyk else { return RGBImage(width: w, height: h, pixels: decoded) }
    // Adobe's CMYK JPEGs store inverted values (what TurboJPEG returns): R = C·K/255, etc.
    var rgb = [UInt8](repeating: 0, count: w * h * 3)
    for i in 0..<(w * h) {
      let k = Int(decoded[4 * i + 3])
      for c in 0..<3 { rgb[3 * i + c] = UInt8(Int(decoded[4 * i + c]) * k / 255) }
    }
    return RGBImage(width: w, height: h, pixels: rgb)
  }

  static func decodePNG(_ bytes: [UInt8], name: String) throws -> RGBImage {
    var image = png_image()
    image.version = png_uint_32(PNG_IMAGE_VERSION)
    defer { png_image_free(&image) }
    func failure(_ stage: String) -> FileError {
      let message = withUnsafeBytes(of: image.message) {
        String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
      }
      return FileError(name, "is not a readable PNG (\(stage): \(message))")
    }
    let begun = bytes.withUnsafeBufferPointer {
      png_image_begin_read_from_memory(&image, $0.baseAddress, bytes.count)
    }
    guard begun != 0 else { throw failure("header") }
    try checkSize(width: Int(image.width), height: Int(image.height), name: name)
    let w = Int(image.width)
    let h = Int(image.height)
    if image.format & png_uint_32(PNG_FORMAT_FLAG_LINEAR) != 0 {
      // The failure is made after the call: reading image.message while `image` is lent inout
      // was an exclusivity violation, a trap on every damaged 16-bit PNG (found by fuzzing).
      guard let decoded = decodeSixteenBitPNG(&image, width: w, height: h) else {
        throw failure("data")
      }
      return decoded
    }
    image.format = png_uint_32(PNG_FORMAT_RGB)
    var pixels = [UInt8](repeating: 0, count: w * h * 3)
    // Transparent pixels are composited on white, as image viewers show them.
    var background = png_color(red: 255, green: 255, blue: 255)
    let finished = pixels.withUnsafeMutableBytes { out in
      png_image_finish_read(&image, &background, out.baseAddress, png_int_32(w * 3), nil)
    }
    guard finished != 0 else { throw failure("data") }
    return RGBImage(width: w, height: h, pixels: pixels)
  }
}

extension ImageDecoder {
  /// 16-bit PNGs. libpng's simplified reader takes 16-bit samples for linear light and would
  /// gamma-encode them on the way to 8 bits (64·257 would come back as 136), but 16-bit files
  /// carry the same sRGB encoding as 8-bit ones in practice. So the samples are read untouched
  /// (linear RGBA output, alpha premultiplied), composited on white and scaled by 1/257.
  /// Nil when libpng fails (its message is then in `image.message`).
  static func decodeSixteenBitPNG(_ image: inout png_image, width w: Int, height h: Int)
    -> RGBImage?
  {
    // PNG_FORMAT_LINEAR_RGB_ALPHA, spelled out: the macro is not importable.
    image.format = png_uint_32(
      PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA | PNG_FORMAT_FLAG_LINEAR)
    var samples = [UInt16](repeating: 0, count: w * h * 4)
    let finished = samples.withUnsafeMutableBytes { out in
      png_image_finish_read(&image, nil, out.baseAddress, png_int_32(w * 4), nil)
    }
    guard finished != 0 else { return nil }
    var pixels = [UInt8](repeating: 0, count: w * h * 3)
    for i in 0..<(w * h) {
      let background = 65535 - Int(samples[4 * i + 3])
      for c in 0..<3 {
        pixels[3 * i + c] = UInt8((Int(samples[4 * i + c]) + background + 128) / 257)
      }
    }
    return RGBImage(width: w, height: h, pixels: pixels)
  }
}

/// Encoding, for the tests, the `preview` contact sheets and generated fixtures.
public enum ImageEncoder {
  /// PNG bytes of an RGB image (libpng's simplified writer).
  public static func png(_ picture: RGBImage) throws -> [UInt8] {
    var image = png_image()
    image.version = png_uint_32(PNG_IMAGE_VERSION)
    image.width = png_uint_32(picture.width)
    image.height = png_uint_32(picture.height)
    image.format = png_uint_32(PNG_FORMAT_RGB)
    defer { png_image_free(&image) }
    var size = 0
    let probed = picture.pixels.withUnsafeBytes {
      png_image_write_to_memory(
        &image, nil, &size, 0, $0.baseAddress, png_int_32(picture.width * 3), nil)
    }
    guard probed != 0, size > 0 else {
      throw FileError("PNG encoder", "cannot size a \(picture.width)x\(picture.height) image")
    }
    var bytes = [UInt8](repeating: 0, count: size)
    let written = bytes.withUnsafeMutableBytes { out in
      picture.pixels.withUnsafeBytes {
        png_image_write_to_memory(
          &image, out.baseAddress, &size, 0, $0.baseAddress, png_int_32(picture.width * 3), nil)
      }
    }
    guard written != 0 else { throw FileError("PNG encoder", "failed") }
    return Array(bytes.prefix(size))
  }

  /// JPEG bytes of an RGB image at `quality` (1-100), 4:4:4, through TurboJPEG; `progressive`
  /// writes a progressive JPEG, `cmyk` an Adobe-style YCCK one (C, M, Y from R, G, B, K = 255), as
  /// print workflows produce.
  public static func jpeg(
    _ picture: RGBImage, quality: Int = 95, progressive: Bool = false, cmyk: Bool = false
  ) throws -> [UInt8] {
    guard let handle = tjInitCompress() else { throw FileError("JPEG encoder", "cannot start") }
    defer { tjDestroy(handle) }
    var buffer: UnsafeMutablePointer<UInt8>?
    var size: UInt = 0
    var source = picture.pixels
    if cmyk {
      source = []
      for i in 0..<(picture.width * picture.height) {
        source += picture.pixels[(3 * i)..<(3 * i + 3)] + [255]
      }
    }
    let flags = Int32(TJFLAG_ACCURATEDCT) | (progressive ? Int32(TJFLAG_PROGRESSIVE) : 0)
    let format = cmyk ? Int32(TJPF_CMYK.rawValue) : Int32(TJPF_RGB.rawValue)
    let status = source.withUnsafeBufferPointer {
      tjCompress2(
        handle, $0.baseAddress, Int32(picture.width), 0, Int32(picture.height), format,
        &buffer, &size, Int32(TJSAMP_444.rawValue), Int32(quality), flags)
    }
    defer { tjFree(buffer) }
    guard status == 0, let buffer else {
      throw FileError("JPEG encoder", String(cString: tjGetErrorStr2(handle)))
    }
    return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
  }
}
