using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ttt.Data;

namespace Ttt.Cli.Commands;

/// <summary>
/// What a run was trained on, saved as <c>train_args.json</c> in the run folder so that <c>ttt eval</c> and
/// <c>ttt generate</c> can use the same data and tokenizer by default.
/// </summary>
public sealed record RunSettings
{
    /// <summary>Model kind (ttt-linear, ttt-mlp, transformer, mamba).</summary>
    public string Model { get; init; } = "ttt-linear";
    /// <summary>Backbone of TTT models (mamba or transformer).</summary>
    public string Backbone { get; init; } = "mamba";
    /// <summary>Size preset or config.json path.</summary>
    public string Size { get; init; } = "tiny";
    /// <summary>Data task (markov, mqar, text:PATH).</summary>
    public string Data { get; init; } = "markov";
    /// <summary>Tokenizer for text data (byte or gpt2).</summary>
    public string Tokenizer { get; init; } = "byte";
    /// <summary>Training sequence length.</summary>
    public int SeqLen { get; init; } = 256;
    /// <summary>Seed of the model init and the data.</summary>
    public ulong Seed { get; init; }
    /// <summary>Element type of the weights.</summary>
    public string DType { get; init; } = "float32";

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true, AllowDuplicateProperties = false, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    /// <summary>The settings as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, s_json);

    /// <summary>Reads train_args.json from a run folder, or null when there is none.</summary>
    public static RunSettings? TryLoad(string folder)
    {
        var path = Path.Combine(folder, "train_args.json");
        if (!File.Exists(path)) return null;
        if (new FileInfo(path).Length > 1 << 20) throw new InvalidDataException($"{path}: too large for run settings");
        RunSettings? settings;
        try
        {
            settings = JsonSerializer.Deserialize<RunSettings>(File.ReadAllText(path), s_json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid run settings ({e.Message})", e);
        }
        if (settings is null) throw new InvalidDataException($"{path}: expected a JSON object of run settings, got null");
        settings.Validate(path);
        return settings;
    }

    /// <summary>Checks that every field holds a value <c>ttt train</c> accepts; throws naming the file and the field.</summary>
    public void Validate(string source)
    {
        void Check(bool ok, string field, object? value, string expected)
        {
            if (!ok) throw new InvalidDataException($"{source}: {field} must be {expected}, got {(value is null ? "null" : $"'{value}'")}");
        }
        Check(Model is not null && Models.ModelZoo.Kinds.Contains(Model), "model", Model, string.Join(", ", Models.ModelZoo.Kinds));
        Check(Backbone is "mamba" or "transformer", "backbone", Backbone, "mamba or transformer");
        Check(!string.IsNullOrWhiteSpace(Size), "size", Size, "a size preset or a config.json path");
        Check(!string.IsNullOrWhiteSpace(Data), "data", Data, "markov, mqar or text:PATH");
        Check(Tokenizer is "byte" or "gpt2", "tokenizer", Tokenizer, "byte or gpt2");
        Check(SeqLen is >= 2 and <= 1 << 20, "seq_len", SeqLen, "in [2, 1048576]");
        Check(DType is "float32" or "float64", "d_type", DType, "float32 or float64");
    }

    /// <summary>Data source options for these settings.</summary>
    public DataSourceOptions DataOptions(Action<string>? log = null) => new() { Tokenizer = Tokenizer, Log = log };

    /// <summary>A short name for the run folder.</summary>
    public string RunName() =>
        (Model.StartsWith("ttt", StringComparison.Ordinal) ? $"{Model}-{Backbone}" : Model) + $"-{Path.GetFileNameWithoutExtension(Size)}-{DataLabel()}";

    private string DataLabel()
    {
        if (!Data.StartsWith("text:", StringComparison.Ordinal)) return Data;
        var name = Path.GetFileName(Data[5..].TrimEnd('/', '\\'));
        return "text-" + (name.Length == 0 ? "corpus" : name);
    }

    /// <summary>Formats a number for messages.</summary>
    public static string F(double v, string format = "F4") => v.ToString(format, CultureInfo.InvariantCulture);
}
