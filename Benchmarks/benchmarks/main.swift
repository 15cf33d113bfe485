import AlexNetKit

print(BLASRuntime.configuration)
