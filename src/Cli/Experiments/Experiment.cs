using Ttt.Models;

namespace Ttt.Cli.Experiments;

/// <summary>One model an experiment trains: a label for the table, how to build it, and its kind for the CSV.</summary>
/// <param name="Label">The row's name in the table ("+ learnable W0", "TTT-Linear (M)").</param>
/// <param name="Kind">ttt-linear, ttt-mlp, transformer or mamba.</param>
/// <param name="Backbone">"mamba" or "transformer" for TTT models, "-" for baselines.</param>
/// <param name="Configure">For TTT models: edits the preset config (ablation switches); null for baselines.</param>
public sealed record ExperimentModel(string Label, string Kind, string Backbone, Action<TTTConfig>? Configure = null)
{
    /// <summary>A folder name for the model's run.</summary>
    public string Slug(int index) => $"{index + 1:D2}-{Kind}-{Backbone}".Replace("--", "-", StringComparison.Ordinal).TrimEnd('-');
}

/// <summary>The experiments of <c>ttt experiment</c>: which models each trains, in table order.</summary>
public static class ExperimentPlans
{
    /// <summary>Experiment names.</summary>
    public static IReadOnlyList<string> Names { get; } = ["ablation", "context"];

    /// <summary>
    /// The paper's Table 1 ladder, from linear attention to TTT-Linear (M), one change per row, at sequence length
    /// <paramref name="seqLen"/> (the first rows use b = T). Every row is TTT-Linear on the Transformer backbone
    /// until the last, which switches to the Mamba backbone. The inner bias b1 is off in the two linear-attention
    /// rows (the paper's f(x) = Wx) and comes on with the official f in the "+ LN and residual" row.
    /// </summary>
    public static IReadOnlyList<ExperimentModel> Ablation(int seqLen, string backbone = "transformer") =>
        backbone == "transformer" ? TransformerLadder(seqLen)
        // The same ladder with the Mamba backbone in every row (a diagnostic: its convs let a one-layer TTT read the
        // previous token); it ends at "+ learnable η", which is then TTT-Linear (M).
        : TransformerLadder(seqLen).Take(5).Select(m => m with { Backbone = "mamba" }).ToArray();

    private static IReadOnlyList<ExperimentModel> TransformerLadder(int seqLen) =>
    [
        new("linear attention ≡ TTT (linear f, b = T, W0 = 0, η = ½)", "ttt-linear", "transformer", c =>
        {
            c.MiniBatchSize = seqLen;
            c.LearnableInitState = false;
            c.UseTttBias = false;
            c.UseTttNorm = false;
            c.UseTttResidual = false;
            c.LearnableTttLr = false;
            c.TttFixedLr = 0.5;
        }),
        new("+ learnable W0", "ttt-linear", "transformer", c =>
        {
            c.MiniBatchSize = seqLen;
            c.UseTttBias = false;
            c.UseTttNorm = false;
            c.UseTttResidual = false;
            c.LearnableTttLr = false;
            c.TttFixedLr = 0.5;
        }),
        new("+ LN and residual in f", "ttt-linear", "transformer", c =>
        {
            c.MiniBatchSize = seqLen;
            c.LearnableTttLr = false;
            c.TttFixedLr = 0.5;
        }),
        new("+ mini-batch TTT (b = 16)", "ttt-linear", "transformer", c =>
        {
            c.MiniBatchSize = 16;
            c.LearnableTttLr = false;
            c.TttFixedLr = 0.5;
        }),
        new("+ learnable η", "ttt-linear", "transformer", c => c.MiniBatchSize = 16),
        new("+ Mamba backbone (= TTT-Linear (M))", "ttt-linear", "mamba", c => c.MiniBatchSize = 16),
    ];

    /// <summary>The paper's Figure 2 comparison: Transformer, Mamba, TTT-Linear (M), TTT-MLP (M).</summary>
    public static IReadOnlyList<ExperimentModel> Context() =>
    [
        new("Transformer", "transformer", "-"),
        new("Mamba", "mamba", "-"),
        new("TTT-Linear (M)", "ttt-linear", "mamba", _ => { }),
        new("TTT-MLP (M)", "ttt-mlp", "mamba", _ => { }),
    ];

    /// <summary>The models of experiment <paramref name="name"/>.</summary>
    public static IReadOnlyList<ExperimentModel> For(string name, int seqLen, string backbone = "transformer") => name switch
    {
        "ablation" => Ablation(seqLen, backbone),
        "context" => Context(),
        _ => throw new ArgumentException($"unknown experiment '{name}': expected {string.Join(", ", Names)}"),
    };
}
