import AlexNetKit
import TestSupport
import Testing

@Suite(.serialized) struct ModelCatalogTests {
  /// The paper's network: 60,965,224 parameters with 1000 classes.
  @Test func alexNetParameterCount() {
    #expect(ModelCatalog.make(.alexnet, classes: 1000).parameterCount == 60_965_224)
  }

  /// torchvision's alexnet: 61,100,840 parameters, with its state-dict names.
  @Test func torchvisionParameterCountAndNames() {
    let model = ModelCatalog.make(.alexnetTV, classes: 1000)
    #expect(model.parameterCount == 61_100_840)
    #expect(
      model.stateDict.map(\.name) == [
        "features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias",
        "features.6.weight",
        "features.6.bias", "features.8.weight", "features.8.bias", "features.10.weight",
        "features.10.bias",
        "classifier.1.weight", "classifier.1.bias", "classifier.4.weight", "classifier.4.bias",
        "classifier.6.weight", "classifier.6.bias",
      ])
  }

  /// The tutorial's Keras summary: 46,818,064 total, 46,815,312 trainable, 2,752 non-trainable
  /// with 16 classes, and its output shapes 54x54x96 ... 5x5x256 → 6400.
  @Test func tutorialKerasModelSummary() throws {
    let model = ModelCatalog.make(.alexnetBN, classes: 16)
    let summary = try ModelSummary(model, inputShape: [3, 224, 224])
    #expect(summary.totalParameters == 46_818_064)
    #expect(summary.trainableParameters == 46_815_312)
    #expect(summary.nonTrainableParameters == 2_752)
    let shapes = summary.rows.map(\.outputShape)
    #expect(shapes.first == [96, 54, 54])
    #expect(shapes.contains([256, 5, 5]) && shapes.contains([6400]))
    #expect(summary.rows.first { $0.kind == "Conv2D" }?.parameters == 34_944)
    #expect(summary.text.contains("Total params: 46,818,064 (178.60 MB)"))
    #expect(summary.text.contains("Non-trainable params: 2,752 (10.75 KB)"))
  }

  /// Every model maps its default input to one row of class scores.
  @Test(arguments: ModelName.allCases)
  func defaultInputGivesClassScores(_ name: ModelName) throws {
    let model = ModelCatalog.make(name, classes: 10)
    let side = name.defaultImageSize
    #expect(try model.outputShape(for: [2, 3, side, side]) == [2, 10])
  }

  /// The small model runs end to end and accepts 64 to 128 pixel inputs.
  @Test func smallModelRunsAtSeveralSizes() throws {
    let model = ModelCatalog.make(.small, classes: 4)
    model.eval()
    for side in [64, 96, 128] {
      var rng = SeededGenerator(seed: UInt64(side))
      let y = withGradientsDisabled { model(Variable(rng.tensor([2, 3, side, side]))) }
      #expect(y.shape == [2, 4] && y.value.isFinite)
    }
  }

  /// The paper's figure 1 network: 32 → 15 → 7 → 3 pixels, 85,098 parameters for 10 classes
  /// (conv 3·32·25 + 32, 32·32·25 + 32, 32·64·25 + 64; dense 576·10 + 10).
  @Test func cifar4ShapesAndParameters() throws {
    let model = ModelCatalog.make(.cifar4, classes: 10)
    #expect(model.parameterCount == 85_098)
    let summary = try ModelSummary(model, inputShape: [3, 32, 32])
    let pooled = summary.rows.filter { $0.kind == "MaxPool2D" }.map(\.outputShape)
    #expect(pooled == [[32, 15, 15], [32, 7, 7], [64, 3, 3]])
  }

  /// The activation swaps every ReLU for a Tanh and changes nothing else: the same parameter
  /// names and, for one seed, the same initial weights, so the two runs differ only in it. (The
  /// three full-size AlexNets share the builders' pattern and take minutes to make twice.)
  @Test(arguments: [ModelName.small, .cifar4])
  func tanhReplacesEveryReLU(_ name: ModelName) {
    let relu = ModelCatalog.make(name, classes: 5, seed: 4)
    let tanh = ModelCatalog.make(name, classes: 5, seed: 4, activation: .tanh)
    let kinds = { (model: Sequential) in model.namedLeaves.map { $0.layer.kind } }
    #expect(kinds(relu).filter { $0 == "ReLU" }.count == kinds(tanh).filter { $0 == "Tanh" }.count)
    #expect(kinds(relu).contains("ReLU") && !kinds(tanh).contains("ReLU"))
    #expect(relu.stateDict.map(\.name) == tanh.stateDict.map(\.name))
    #expect(relu.stateDict.map(\.tensor) == tanh.stateDict.map(\.tensor))
  }

  /// A checkpoint's model_configuration: absent is ReLU, a recorded activation is rebuilt, and
  /// anything else is refused with the file's name.
  @Test func catalogueConfigurationReadsTheActivation() throws {
    #expect(try CatalogueConfiguration(nil, source: "a").activation == .relu)
    let tanh = CatalogueConfiguration(activation: .tanh)
    #expect(tanh.json == #"{"activation":"tanh"}"#)
    #expect(try CatalogueConfiguration(tanh.json, source: "a") == tanh)
    #expect(throws: FileError.self) {
      try CatalogueConfiguration(#"{"activation":"sigmoid"}"#, source: "cp.safetensors")
    }
  }

  /// The same seed gives the same weights; another seed does not.
  @Test func seedsAreReproducible() {
    let a = ModelCatalog.make(.small, classes: 3, seed: 5)
    let b = ModelCatalog.make(.small, classes: 3, seed: 5)
    #expect(a.stateDict.map(\.tensor) == b.stateDict.map(\.tensor))
    #expect(
      a.stateDict.map(\.tensor)
        != ModelCatalog.make(.small, classes: 3, seed: 6).stateDict.map(\.tensor))
  }
}
