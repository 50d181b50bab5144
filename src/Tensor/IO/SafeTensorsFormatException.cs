namespace Ttt.IO;

/// <summary>
/// A safetensors file (or stream) that cannot be loaded: its layout breaks the format, or its contents fail a check
/// that was asked for (such as finiteness). The message always starts with the source name, then states the problem
/// with the numbers involved, so that a user can tell what is wrong without opening a hex editor.
/// </summary>
public sealed class SafeTensorsFormatException : Exception
{
    /// <summary>Creates an exception with a plain message (no source or tensor attached).</summary>
    public SafeTensorsFormatException() : this("unknown source", "the safetensors data is malformed")
    {
    }

    /// <summary>Creates an exception with a plain message (no source or tensor attached).</summary>
    public SafeTensorsFormatException(string message) : base(message)
    {
        SourceName = "unknown source";
        Problem = message;
    }

    /// <summary>Creates an exception with a plain message and the exception that revealed the problem.</summary>
    public SafeTensorsFormatException(string message, Exception innerException) : base(message, innerException)
    {
        SourceName = "unknown source";
        Problem = message;
    }

    /// <summary>Creates an exception for <paramref name="sourceName"/>; the message reads "source: problem".</summary>
    /// <param name="sourceName">File name or caller-given name of the data.</param>
    /// <param name="problem">What is wrong, with the numbers involved.</param>
    /// <param name="tensorName">The tensor concerned, when the problem belongs to one.</param>
    /// <param name="innerException">The exception that revealed the problem, if any (for example a JSON error).</param>
    public SafeTensorsFormatException(string sourceName, string problem, string? tensorName = null, Exception? innerException = null)
        : base($"{sourceName}: {problem}", innerException)
    {
        SourceName = sourceName;
        Problem = problem;
        TensorName = tensorName;
    }

    /// <summary>File name or caller-given name of the data that failed to load.</summary>
    public string SourceName { get; }

    /// <summary>The problem alone, without the source name.</summary>
    public string Problem { get; }

    /// <summary>The tensor concerned, or null when the problem is not tied to one tensor.</summary>
    public string? TensorName { get; }
}
