import AlexNetKit
