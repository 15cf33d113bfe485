import Foundation

/// CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, initial and final value all ones), the
/// checksum of TFRecord framing. Table-driven, one byte at a time: records are a few hundred
/// bytes per epoch, never a hot path.
public enum CRC32C {
  static let table: [UInt32] = (0..<256).map { index in
    var crc = UInt32(index)
    for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    return crc
  }

  public static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32
  where Bytes.Element == UInt8 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    return crc ^ 0xFFFF_FFFF
  }

  /// TensorFlow's masked form (rotate right by 15, add a constant), so that a CRC stored inside
  /// checksummed data does not checksum to a fixed value (tensorflow/core/lib/hash/crc32c.h).
  public static func masked<Bytes: Sequence>(_ bytes: Bytes) -> UInt32
  where Bytes.Element == UInt8 {
    let crc = checksum(bytes)
    return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
  }
}

/// TFRecord framing, the container of TensorBoard event files: per record, the length as a
/// little-endian UInt64, the masked CRC-32C of those 8 bytes, the data, the masked CRC-32C of
/// the data (tensorflow/core/lib/io/record_writer.cc).
public enum TFRecord {
  /// One framed record.
  public static func framed(_ data: [UInt8]) -> [UInt8] {
    let length = withUnsafeBytes(of: UInt64(data.count).littleEndian, Array.init)
    return length + littleEndian(CRC32C.masked(length)) + data
      + littleEndian(CRC32C.masked(data))
  }

  static func littleEndian(_ value: UInt32) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian, Array.init)
  }

  /// The records of a file's bytes, every checksum verified. A record cut short at the end
  /// (a writer killed mid-write) is left out and counted in `truncatedBytes`; a wrong checksum
  /// anywhere is an error naming `source` and the record's offset.
  public static func records(in bytes: [UInt8], source: String) throws -> (
    records: [[UInt8]], truncatedBytes: Int
  ) {
    var records: [[UInt8]] = []
    var offset = 0
    func word(_ at: Int) -> UInt32 {
      (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) }
    }
    while offset < bytes.count {
      // Fewer than 16 bytes cannot hold even an empty record: a cut tail.
      guard bytes.count - offset >= 16 else { break }
      let header = Array(bytes[offset..<offset + 8])
      guard CRC32C.masked(header) == word(offset + 8) else {
        throw FileError(source, "record at byte \(offset): the length's CRC-32C does not match")
      }
      let length = header.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
      guard length <= UInt64(bytes.count - offset - 16) else { break }
      let start = offset + 12
      let data = Array(bytes[start..<start + Int(length)])
      guard CRC32C.masked(data) == word(start + Int(length)) else {
        throw FileError(source, "record at byte \(offset): the data's CRC-32C does not match")
      }
      records.append(data)
      offset = start + Int(length) + 4
    }
    return (records, bytes.count - offset)
  }
}
