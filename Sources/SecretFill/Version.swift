public enum SecretFillVersion { public static let string = "0.1.0" }
