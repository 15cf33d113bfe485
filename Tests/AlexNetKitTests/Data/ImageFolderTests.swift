import AlexNetKit
import Foundation
import Testing

@Suite struct ImageFolderTests {
  func makeFolder(counts: [String: Int]) throws -> URL {
    let png = try ImageEncoder.png(DataFixtures.gradient(width: 12, height: 10))
    var files: [String: [UInt8]] = [:]
    for (name, count) in counts {
      for i in 0..<count { files["\(name)/img\(i).\(i % 2 == 0 ? "png" : "PNG")"] = png }
    }
    files["empty/.keep"] = []
    files[".ipynb_checkpoints/stray.png"] = png
    files["a/.hidden.png"] = png
    files["a/readme.txt"] = Array("not an image".utf8)
    return try DataFixtures.folder(files)
  }

  @Test func classesAreSortedFoldersWithImages() throws {
    let root = try makeFolder(counts: ["b": 4, "a": 6])
    let folder = try ImageFolder(root: root)
    #expect(folder.classNames == ["a", "b"])
    #expect(folder.samples.count == 10 && folder.classCounts == [6, 4])
    #expect(folder.report.contains("Found 10 files belonging to 2 classes."))
    #expect(folder.report.contains { $0.contains("skipped empty/") })
    #expect(folder.report.contains("Ignored 1 files that are not .jpg, .jpeg or .png."))
  }

  @Test func splitIsDisjointRepeatableAndSized() throws {
    let root = try makeFolder(counts: ["a": 30, "b": 3])
    let training = try ImageFolder(root: root, validationSplit: 0.1, subset: .training, seed: 123)
    let validation = try ImageFolder(
      root: root, validationSplit: 0.1, subset: .validation, seed: 123)
    // Keras: int(0.1 · 33) = 3
    #expect(training.samples.count == 30 && validation.samples.count == 3)
    #expect(Set(training.samples.map(\.url)).isDisjoint(with: validation.samples.map(\.url)))
    #expect(
      try ImageFolder(root: root, validationSplit: 0.1, subset: .validation, seed: 123).samples
        == validation.samples)
    #expect(
      try ImageFolder(root: root, validationSplit: 0.1, subset: .validation, seed: 7).samples
        != validation.samples)
    #expect(validation.report.last == "Using 3 files for validation.")
    let stratified = try ImageFolder(
      root: root, validationSplit: 0.1, subset: .validation, seed: 1, stratified: true)
    #expect(stratified.classCounts == [3, 1])  // the small class keeps a validation image
    #expect(training.report.contains { $0.contains("imbalanced") })
  }

  @Test func missingAndEmptyFoldersAreErrors() throws {
    #expect { try ImageFolder(root: URL(fileURLWithPath: "/no/such/folder")) } throws: {
      "\($0)".contains("does not exist")
    }
    let empty = try DataFixtures.folder(["only/notes.txt": [1, 2, 3]])
    #expect { try ImageFolder(root: empty) } throws: { "\($0)".contains("has no class subfolders") }
    let root = try makeFolder(counts: ["a": 2])
    #expect { try ImageFolder(root: root, classNames: ["a", "zebra"]) } throws: {
      "\($0)".contains("zebra")
    }
    #expect { try ImageFolder(root: root, validationSplit: 1.5, subset: .training) } throws: {
      "\($0)".contains("1.5")
    }
  }
}
