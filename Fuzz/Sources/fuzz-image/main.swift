import AlexNetKit
import FuzzDriver

/// Any bytes given to the JPEG and PNG decoders (through our wrappers) either throw or give an
/// image of the declared size within the decoder's limits.
@_cdecl("fuzz_image_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  runFuzzer(argc, argv) { data, size in
    guard let image = try? ImageDecoder.decode(bytes: bytes(data, size), name: "fuzz") else {
      return 0
    }
    precondition(image.pixels.count == image.width * image.height * 3, "decoded size mismatch")
    precondition(image.width * image.height <= ImageDecoder.maximumPixels, "over the pixel limit")
    return 0
  }
}
