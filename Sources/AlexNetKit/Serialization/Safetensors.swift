import Foundation

/// The safetensors format of the PyTorch and Hugging Face ecosystems: an 8-byte little-endian
/// header length N, N bytes of JSON (`{"__metadata__": {...}, "name": {"dtype": "F32",
/// "shape": [...], "data_offsets": [begin, end]}, ...}`, offsets relative to the data that
/// follows), then the raw little-endian data.
///
/// Files are untrusted: the header length, every offset, every shape product and every byte
/// count are checked before anything is read, and a truncated or lying file is a
/// `FileError` naming the file and the entry, never a crash or a read out of bounds.
public struct SafetensorsFile {
  public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case f64 = "F64"
    case i64 = "I64"
    case i32 = "I32"
    case u8 = "U8"
    public var size: Int {
      switch self {
      case .f64, .i64: return 8
      case .f32, .i32: return 4
      case .f16, .bf16: return 2
      case .u8: return 1
      }
    }
  }

  public struct Entry: Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    /// Byte range within the data section.
    public var range: Range<Int>
  }

  /// Where the bytes came from, for messages.
  public let source: String
  /// Entries in data order.
  public let entries: [Entry]
  public let metadata: [String: String]
  let bytes: [UInt8]
  let dataStart: Int

  /// The largest header accepted: 16 MB, where the reference implementation takes 100 MB. The
  /// `maximumEntries` tensors take under 2 MB and the largest record we accept (class names) 4 MB;
  /// parsing a hostile 57 MB header took 77 s before it could be refused.
  public static let maximumHeaderBytes = 16 << 20
  /// The most JSON objects (entries, plus the root and `__metadata__`) a header may hold: a
  /// checkpoint has a few hundred, while 600,000 empty entries in a 40 MB header took 2.4 GB and
  /// 47 s to parse before anything could be refused.
  public static let maximumEntries = 10_000

  public init(contentsOf url: URL) throws {
    let data = try FileError.readRegularFile(url, expected: "a .safetensors file")
    try self.init(bytes: [UInt8](data), source: url.path)
  }

  public init(bytes: [UInt8], source: String) throws {
    self.source = source
    self.bytes = bytes
    let header: [String: Any]
    (header, dataStart) = try Self.header(bytes, source: source)
    metadata = try Self.metadata(header, source: source)
    let dataSize = bytes.count - dataStart
    var entries = try header.filter { $0.key != "__metadata__" }.map { name, raw in
      try Self.entry(name, raw, dataSize: dataSize, source: source)
    }
    entries.sort {
      ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound)
    }
    for (previous, next) in zip(entries, entries.dropFirst())
    where next.range.lowerBound < previous.range.upperBound {
      throw FileError(source, "entries \(previous.name) and \(next.name) overlap")
    }
    self.entries = entries
  }

  /// The JSON header (checked against the file's length before any of it is read) and where the
  /// data section starts.
  static func header(_ bytes: [UInt8], source: String) throws -> ([String: Any], dataStart: Int) {
    func fail(_ reason: String) -> FileError { FileError(source, reason) }
    guard bytes.count >= 8 else {
      throw fail(
        "is \(bytes.count) bytes long; a safetensors file has at least an 8-byte header length")
    }
    let declared = bytes[0..<8].enumerated().reduce(UInt64(0)) {
      $0 | UInt64($1.element) << (8 * UInt64($1.offset))
    }
    guard declared <= UInt64(maximumHeaderBytes) else {
      throw fail("declares a \(declared)-byte header, more than the \(maximumHeaderBytes) accepted")
    }
    guard declared <= UInt64(bytes.count - 8) else {
      throw fail(
        "declares a \(declared)-byte header but has only \(bytes.count - 8) bytes after the length")
    }
    let dataStart = 8 + Int(declared)
    let objects = structuralObjectCount(bytes[8..<dataStart])
    guard objects <= maximumEntries else {
      throw fail("header holds \(objects) JSON objects, more than the \(maximumEntries) accepted")
    }
    let object: Any
    do { object = try JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart])) } catch {
      throw fail("header is not valid JSON")
    }
    guard let header = object as? [String: Any] else { throw fail("header is not a JSON object") }
    // JSONSerialization keeps one of a key's values silently: a second "model" or a second tensor
    // of the same name could make a file read differently by another reader.
    if let key = duplicatedKey(bytes[8..<dataStart]) {
      throw fail("header has the key \(key) twice in one object")
    }
    return (header, dataStart)
  }

  /// The `{` of a JSON text outside its strings: an upper bound on its entries, counted in one
  /// pass without parsing (an escaped quote inside a string does not end it).
  static func structuralObjectCount(_ text: ArraySlice<UInt8>) -> Int {
    let (quote, backslash, brace) = (UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "{"))
    return text.withUnsafeBufferPointer { buffer in
      var (count, inString, escaped) = (0, false, false)
      for byte in buffer {
        if escaped {
          escaped = false
        } else if inString {
          escaped = byte == backslash
          inString = byte != quote
        } else if byte == quote {
          inString = true
        } else if byte == brace {
          count += 1
        }
      }
      return count
    }
  }

  /// The first key that appears twice in one object of `json`, which has been parsed already (so
  /// it is valid JSON: strings end, brackets match).
  static func duplicatedKey(_ json: ArraySlice<UInt8>) -> String? {
    var objects: [Set<String>?] = []  // the open objects' keys; nil for an open array
    var i = json.startIndex
    while i < json.endIndex {
      switch json[i] {
      case UInt8(ascii: "{"): objects.append([])
      case UInt8(ascii: "["): objects.append(nil)
      case UInt8(ascii: "}"), UInt8(ascii: "]"): _ = objects.popLast()
      case UInt8(ascii: "\""):
        let start = i
        i += 1
        // Bounds checked all the same: the scan must not trust the parser's notion of "valid".
        while i < json.endIndex && json[i] != UInt8(ascii: "\"") {
          i += json[i] == UInt8(ascii: "\\") ? 2 : 1
        }
        guard i < json.endIndex else { return nil }
        var next = i + 1
        while next < json.endIndex, [0x20, 0x09, 0x0A, 0x0D].contains(json[next]) { next += 1 }
        guard next < json.endIndex, json[next] == UInt8(ascii: ":"),
          objects.last.flatMap({ $0 }) != nil, let key = jsonString(json[start...i])
        else { break }
        if objects[objects.count - 1]!.insert(key).inserted == false { return key }
      default: break
      }
      i += 1
    }
    return nil
  }

  /// A JSON string literal's value, escapes decoded.
  static func jsonString(_ literal: ArraySlice<UInt8>) -> String? {
    guard literal.contains(UInt8(ascii: "\\")) else {
      return String(decoding: literal.dropFirst().dropLast(), as: UTF8.self)
    }
    return (try? JSONSerialization.jsonObject(with: Data(literal), options: .fragmentsAllowed))
      as? String
  }

  /// `__metadata__`: an object of strings, or nothing.
  static func metadata(_ header: [String: Any], source: String) throws -> [String: String] {
    guard let raw = header["__metadata__"] else { return [:] }
    guard let dictionary = raw as? [String: Any] else {
      throw FileError(source, "__metadata__ is not an object of strings")
    }
    var metadata: [String: String] = [:]
    for (key, value) in dictionary {
      guard let text = value as? String else {
        throw FileError(source, "__metadata__ entry \(key) is not a string")
      }
      metadata[key] = text
    }
    return metadata
  }

  /// One tensor's record: a known dtype, a shape whose size fits the data section (checked without
  /// overflow), and offsets inside it that hold exactly that many bytes.
  static func entry(_ name: String, _ raw: Any, dataSize: Int, source: String) throws -> Entry {
    func fail(_ reason: String) -> FileError { FileError(source, "entry \(name) " + reason) }
    guard let info = raw as? [String: Any] else { throw fail("is not an object") }
    guard let dtypeName = info["dtype"] as? String else { throw fail("has no dtype string") }
    guard let dtype = DType(rawValue: dtypeName) else {
      let supported = DType.allCases.map(\.rawValue).joined(separator: ", ")
      throw fail("has dtype \(dtypeName); supported: \(supported)")
    }
    guard let shapeValues = info["shape"] as? [Any], let shape = integers(shapeValues),
      shape.allSatisfy({ $0 >= 0 })
    else { throw fail("has no shape of non-negative integers") }
    guard let offsetValues = info["data_offsets"] as? [Any], let offsets = integers(offsetValues),
      offsets.count == 2
    else { throw fail("has no data_offsets [begin, end]") }
    var elements = 1
    for extent in shape {
      let (product, overflow) = elements.multipliedReportingOverflow(by: extent)
      guard !overflow, product <= dataSize else {
        throw fail("has shape \(shape), larger than the file")
      }
      elements = product
    }
    let (begin, end) = (offsets[0], offsets[1])
    guard 0 <= begin, begin <= end, end <= dataSize else {
      throw fail("has data_offsets [\(begin), \(end)] outside the \(dataSize)-byte data section")
    }
    guard end - begin == elements * dtype.size else {
      throw FileError(
        source,
        "entry \(name): shape \(shape) of \(dtypeName) needs \(elements * dtype.size) bytes, "
          + "data_offsets give \(end - begin)")
    }
    return Entry(name: name, dtype: dtype, shape: shape, range: begin..<end)
  }

  static func integers(_ values: [Any]) -> [Int]? {
    var result: [Int] = []
    for value in values {
      // JSON numbers arrive as NSNumber; only whole values that fit an Int are accepted.
      guard let number = value as? NSNumber, let exact = Int(exactly: number.doubleValue) else {
        return nil
      }
      result.append(exact)
    }
    return result
  }

  public var names: [String] { entries.map(\.name) }

  public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

  /// The tensor converted to Float32 (F16, BF16, F64 and integers convert; F32 is copied as is).
  public func tensor(named name: String) throws -> Tensor {
    guard let entry = entry(named: name) else {
      throw FileError(source, "has no tensor named \(name)")
    }
    return tensor(entry)
  }

  func tensor(_ entry: Entry) -> Tensor {
    var result = Tensor(uninitializedShape: entry.shape)
    let start = dataStart + entry.range.lowerBound
    bytes.withUnsafeBytes { raw in
      result.withUnsafeMutableBufferPointer { out in
        #if _endian(little)
          if entry.dtype == .f32 {  // already Float32 in memory order: one copy
            UnsafeMutableRawBufferPointer(out).copyMemory(
              from: UnsafeRawBufferPointer(rebasing: raw[start..<(start + entry.range.count)]))
            return
          }
        #endif
        for i in 0..<out.count {
          let at = start + i * entry.dtype.size
          switch entry.dtype {
          case .f32:
            out[i] = Float(
              bitPattern: UInt32(
                littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
          case .f16:
            out[i] = Self.halfToFloat(
              UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt16.self)))
          case .bf16:
            out[i] = Float(
              bitPattern: UInt32(
                UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt16.self))) << 16)
          case .f64:
            out[i] = Float(
              Double(
                bitPattern: UInt64(
                  littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self))))
          case .i64:
            out[i] = Float(
              Int64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int64.self)))
          case .i32:
            out[i] = Float(
              Int32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int32.self)))
          case .u8: out[i] = Float(raw[at])
          }
        }
      }
    }
    return result
  }

  /// Every tensor, converted to Float32, in data order.
  public func tensors() -> [(name: String, tensor: Tensor)] {
    entries.map { ($0.name, tensor($0)) }
  }

  /// IEEE 754 binary16 to Float, subnormals, infinities and NaN included.
  static func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h >> 15) << 31
    let exponent = Int((h >> 10) & 0x1F)
    let fraction = UInt32(h & 0x3FF)
    if exponent == 0 {
      let magnitude = Float(fraction) * 0x1p-24  // subnormal (or zero)
      return sign == 0 ? magnitude : -magnitude
    }
    if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (fraction << 13)) }
    return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | fraction << 13)
  }
}

/// Writing safetensors files, and loading them into layers.
public enum Safetensors {
  /// The file's bytes: F32 tensors in the given order, then `integers` as I64 (PyTorch's
  /// `num_batches_tracked` counters), header keys in that order, the header padded with spaces
  /// to a multiple of 8 bytes (as the reference writer does).
  public static func encode(
    _ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:],
    integers: [(name: String, shape: [Int], values: [Int64])] = []
  ) -> [UInt8] {
    var parts: [String] = []
    if !metadata.isEmpty {
      parts.append(
        "\"__metadata__\":{"
          + metadata.keys.sorted().map { "\(quoted($0)):\(quoted(metadata[$0]!))" }.joined(
            separator: ",") + "}")
    }
    var offset = 0
    let described =
      tensors.map { ($0.name, "F32", $0.tensor.shape, $0.tensor.count * 4) }
      + integers.map { ($0.name, "I64", $0.shape, $0.values.count * 8) }
    for (name, dtype, shape, size) in described {
      parts.append(
        "\(quoted(name)):{\"dtype\":\"\(dtype)\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],"
          + "\"data_offsets\":[\(offset),\(offset + size)]}")
      offset += size
    }
    var header = Array(("{" + parts.joined(separator: ",") + "}").utf8)
    while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
    var bytes = [UInt8]()
    bytes.reserveCapacity(8 + header.count + offset)
    let length = UInt64(header.count)
    for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: length >> (8 * UInt64(i)))) }
    bytes += header
    for (_, tensor) in tensors {
      tensor.withUnsafeBufferPointer { values in
        #if _endian(little)
          // memory order is the file's order
          bytes.append(contentsOf: UnsafeRawBufferPointer(values))
        #else
          for value in values {
            let bits = value.bitPattern.littleEndian
            withUnsafeBytes(of: bits) { bytes.append(contentsOf: $0) }
          }
        #endif
      }
    }
    for entry in integers {
      for value in entry.values {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
      }
    }
    return bytes
  }

  /// Writes a file atomically (see `AtomicFile`).
  public static func write(
    _ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:], to url: URL
  ) throws {
    try AtomicFile.write(encode(tensors, metadata: metadata), to: url)
  }

  static func quoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": result += "\\\""
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      case "\r": result += "\\r"
      case "\t": result += "\\t"
      case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
      default: result.unicodeScalars.append(scalar)
      }
    }
    return result + "\""
  }
}

extension Layer {
  /// Loads weights from a safetensors file, checking every name, shape and dtype first and
  /// reporting every mismatch by name; nothing changes unless everything fits. Entries whose
  /// names start with one of `ignoringPrefixes` (say, optimizer state kept in the same file) are
  /// passed over.
  public func loadWeights(from file: SafetensorsFile, ignoringPrefixes: [String] = []) throws {
    let relevant = file.entries.filter { entry in
      !ignoringPrefixes.contains { entry.name.hasPrefix($0) }
        && !entry.name.hasSuffix("num_batches_tracked")
    }
    let unusable = relevant.filter { $0.dtype == .u8 || $0.dtype == .i32 || $0.dtype == .i64 }
    guard unusable.isEmpty else {
      throw FileError(
        file.source,
        unusable.map { "\($0.name) has dtype \($0.dtype.rawValue), expected F32, F16 or BF16" }
          .joined(separator: "; "))
    }
    let tensors = relevant.map { ($0.name, file.tensor($0)) }
    for (name, tensor) in tensors {
      if let bad = Checkpoint.firstNonFinite(tensor) {
        throw FileError(file.source, "has \(bad.isNaN ? "NaN" : "infinity") in \(name)")
      }
    }
    do {
      try loadState(tensors)
    } catch {
      throw FileError(file.source, error.description)
    }
  }
}
