namespace Lab.Bench;

/// <summary>A benchmark cannot run or its results are invalid (for example, outputs disagree).
/// Reported as one error line, without a stack trace.</summary>
public sealed class BenchmarkException(string message) : Exception(message);
