namespace Ttt.Data;

/// <summary>Settings for <see cref="DataSources"/>; each task reads only its own part.</summary>
public sealed record DataSourceOptions
{
    /// <summary>Settings of the <c>markov</c> task.</summary>
    public MarkovOptions Markov { get; init; } = new();

    /// <summary>Settings of the <c>mqar</c> task.</summary>
    public MqarOptions Mqar { get; init; } = new();

    /// <summary>Tokenizer of the <c>text:PATH</c> task: "byte" (default) or "gpt2".</summary>
    public string Tokenizer { get; init; } = ByteTokenizer.TokenizerName;

    /// <summary>Share of a text corpus held out for evaluation (the end of the token stream).</summary>
    public double EvalFraction { get; init; } = TextCorpus.DefaultEvalFraction;

    /// <summary>Receives informational lines (a text corpus's summary, including skipped binary files).</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>
/// Builds data sources from a task name as written on the command line: <c>markov</c> (the default task),
/// <c>mqar</c>, or <c>text:PATH</c> (a UTF-8 file or folder).
/// </summary>
public static class DataSources
{
    /// <summary>The default task.</summary>
    public const string DefaultTask = MarkovDataSource.TaskName;

    private const string TextPrefix = TextDataSource.TaskName + ":";

    /// <summary>
    /// The train and eval streams of <paramref name="task"/> for <paramref name="seed"/> with T =
    /// <paramref name="sequenceLength"/>; a text corpus is read once and shared by both.
    /// </summary>
    public static (IDataSource Train, IDataSource Eval) Open(string task, ulong seed, int sequenceLength, DataSourceOptions? options = null)
    {
        options ??= new DataSourceOptions();
        if (TryTextPath(task, out string? path))
        {
            var corpus = TextCorpus.Load(path, TextTokenizers.Create(options.Tokenizer), options.EvalFraction, options.Log);
            return (new TextDataSource(corpus, seed, DataSplit.Train, sequenceLength), new TextDataSource(corpus, seed, DataSplit.Eval, sequenceLength));
        }
        return (Create(task, seed, DataSplit.Train, sequenceLength, options), Create(task, seed, DataSplit.Eval, sequenceLength, options));
    }

    /// <summary>One stream of <paramref name="task"/>; see <see cref="Open"/>.</summary>
    public static IDataSource Create(string task, ulong seed, DataSplit split, int sequenceLength, DataSourceOptions? options = null)
    {
        options ??= new DataSourceOptions();
        if (TryTextPath(task, out string? path))
        {
            var corpus = TextCorpus.Load(path, TextTokenizers.Create(options.Tokenizer), options.EvalFraction, options.Log);
            return new TextDataSource(corpus, seed, split, sequenceLength);
        }
        return task.Trim().ToLowerInvariant() switch
        {
            MarkovDataSource.TaskName => new MarkovDataSource(seed, split, sequenceLength, options.Markov),
            MqarDataSource.TaskName => new MqarDataSource(seed, split, sequenceLength, options.Mqar),
            _ => throw new ArgumentException($"unknown data task '{task}': expected markov, mqar or text:PATH", nameof(task)),
        };
    }

    private static bool TryTextPath(string task, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? path)
    {
        ArgumentNullException.ThrowIfNull(task);
        path = null;
        if (!task.StartsWith(TextPrefix, StringComparison.OrdinalIgnoreCase)) return false;
        path = task[TextPrefix.Length..];
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException("text task needs a path: text:PATH", nameof(task));
        return true;
    }
}
