using System.Globalization;
using System.Text.Json.Nodes;

namespace Ttt.Cli.Bench;

/// <summary>One measured row of <c>ttt bench</c>: a name, its shape fields and the measured figures.</summary>
public sealed class BenchRow(string name)
{
    /// <summary>What was measured ("ttt-linear layer forward+backward", …).</summary>
    public string Name { get; } = name;

    /// <summary>Shape fields (seq_len, hidden, heads, mini_batch, threads, …) in insertion order.</summary>
    public List<(string Key, object Value)> Fields { get; } = [];

    /// <summary>Median wall time in milliseconds.</summary>
    public double MedianMs { get; set; } = double.NaN;

    /// <summary>Effective GFLOP/s (NaN when not a compute row).</summary>
    public double Gflops { get; set; } = double.NaN;

    /// <summary>Share of a reference (peak, OpenBLAS, bandwidth) in percent, and what the reference is.</summary>
    public (double Percent, string Of)? Share { get; set; }

    /// <summary>A free-form note (ms/token, GB/s, tokens/s, peak memory).</summary>
    public string Note { get; set; } = "";

    /// <summary>Extra numeric results for the JSON output.</summary>
    public Dictionary<string, double> Extra { get; } = [];

    /// <summary>Adds a shape field.</summary>
    public BenchRow With(string key, object value)
    {
        Fields.Add((key, value));
        return this;
    }

    /// <summary>The shape as text ("T=2048 D=768 H=12 K=16").</summary>
    public string ShapeText() => string.Join(" ", Fields.Where(f => f.Key != "threads").Select(f => $"{Short(f.Key)}={f.Value}"));

    private static string Short(string key) => key switch
    {
        "seq_len" => "T",
        "hidden" => "D",
        "heads" => "H",
        "mini_batch" => "K",
        "batch" => "B",
        _ => key,
    };

    /// <summary>The row as a JSON object.</summary>
    public JsonObject ToJson()
    {
        var o = new JsonObject { ["name"] = Name };
        foreach (var (k, v) in Fields)
            o[k] = v switch
            {
                int i => JsonValue.Create(i),
                long l => JsonValue.Create(l),
                double d => JsonValue.Create(d),
                _ => JsonValue.Create(Convert.ToString(v, CultureInfo.InvariantCulture)),
            };
        o["median_ms"] = MedianMs;
        if (double.IsFinite(Gflops)) o["gflops"] = Gflops;
        if (Share is { } s)
        {
            o["percent"] = s.Percent;
            o["percent_of"] = s.Of;
        }
        foreach (var (k, v) in Extra) o[k] = double.IsFinite(v) ? v : null;
        return o;
    }

    /// <summary>Formats a number for the table.</summary>
    public static string F(double v, string format) => double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "–";
}
