using BenchmarkDotNet.Attributes;
using Ttt.Cpu;
using Ttt.Models;

namespace Ttt.Benchmarks;

/// <summary>
/// BenchmarkDotNet: one TTT layer (Transformer backbone: q/k/v/o projections, RoPE, fused dual-form scan, post_norm,
/// output projection) at T = 2048, D = 768, H = 12, K = 16, B = 1, float32 — forward without gradients and
/// forward+backward — for TTT-Linear and TTT-MLP on 1 and 2 threads. The same layer and shapes as the
/// "ttt-… layer" rows of <c>ttt bench</c>; GFLOP/s counts the projections and the inner loop (norms ignored), and
/// forward+backward as three forwards.
/// </summary>
public class TttLayerBenchmarks
{
    public const int SeqLen = 2048, Hidden = 768, Heads = 12, MiniBatch = 16;

    private TTTLayer? _layer;
    private Tensor? _x, _gradOut;

    [Params("linear", "mlp")]
    public string Inner { get; set; } = "linear";

    [Params(1, 2)]
    public int Threads { get; set; } = 2;

    [GlobalSetup]
    public void Setup()
    {
        CpuParallel.Threads = Threads;
        var config = new TTTConfig
        {
            HiddenSize = Hidden, NumAttentionHeads = Heads, MiniBatchSize = MiniBatch, TttLayerType = Inner, TttBaseLr = Inner == "mlp" ? 0.1 : 1.0,
        };
        _layer = new TTTLayer(config, new Generator(1));
        _x = Tensor.RandN([1, SeqLen, Hidden], new Generator(3));
        _gradOut = Tensor.RandN([1, SeqLen, Hidden], new Generator(4));
    }

    [Benchmark(Description = "forward")]
    public Tensor Forward()
    {
        using (GradMode.Disable()) return _layer!.Forward(_x!);
    }

    [Benchmark(Description = "forward+backward")]
    public void ForwardBackward()
    {
        var x = _x!.Detach().RequireGrad();
        _layer!.Forward(x).Backward(_gradOut);
        _layer.ZeroGrad();
    }

    /// <summary>Forward FLOPs: four D×D projections plus the dual-form inner loop (Linear 6d² + 6Kd, MLP 56d² + 30Kd per token and head).</summary>
    public static double ForwardFlops(string inner)
    {
        int d = Hidden / Heads;
        double projections = 2.0 * SeqLen * Hidden * (double)Hidden * 4;
        double perToken = inner == "mlp" ? 56.0 * d * d + 30.0 * MiniBatch * d : 6.0 * d * d + 6.0 * MiniBatch * d;
        return projections + Heads * SeqLen * perToken;
    }
}
