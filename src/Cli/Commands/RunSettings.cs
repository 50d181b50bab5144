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

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    /// <summary>The settings as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, s_json);

    /// <summary>Reads train_args.json from a run folder, or null when there is none.</summary>
    public static RunSettings? TryLoad(string folder)
    {
        var path = Path.Combine(folder, "train_args.json");
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<RunSettings>(File.ReadAllText(path), s_json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid run settings ({e.Message})", e);
        }
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
