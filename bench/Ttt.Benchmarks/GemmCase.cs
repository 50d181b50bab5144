using System.Runtime.InteropServices;
using Ttt.Cpu;

namespace Ttt.Benchmarks;

/// <summary>
/// A float32 matmul shape: <see cref="Batch"/> independent products C[M, N] = A[M, K]·B[K, N], all row-major and
/// contiguous. Shapes are written M×K×N (rows of A × inner dim × columns of B), with "B ×" for a batch.
/// </summary>
public sealed record GemmCase(string Name, int Batch, int M, int K, int N)
{
    /// <summary>The shapes the GEMM section of BENCHMARKS.md reports.</summary>
    public static IReadOnlyList<GemmCase> All { get; } =
    [
        new("1024³", 1, 1024, 1024, 1024),
        new("2048³", 1, 2048, 2048, 2048),
        new("2048×768×768", 1, 2048, 768, 768),
        new("2048×768×2048", 1, 2048, 768, 2048),
        new("1×768×768 (GEMV)", 1, 1, 768, 768),
        // TTT inner loop: mini-batches of K = 16 tokens per head, head dim d = 64, 8 sequences × 12 heads.
        new("96 × 16×64×64", 96, 16, 64, 64),
        new("96 × 16×16×64", 96, 16, 16, 64),
    ];

    /// <summary>Floating-point operations of one call (2 per multiply-add).</summary>
    public double Flops => 2.0 * Batch * M * K * N;

    public override string ToString() => Name;
}

/// <summary>64-byte aligned, randomly filled operands for a <see cref="GemmCase"/>, and the two implementations.</summary>
public sealed unsafe class GemmOperands : IDisposable
{
    private readonly GemmCase _case;
    private readonly float* _a, _b, _c;
    private readonly long[] _aOffsets, _bOffsets, _cOffsets;

    public GemmOperands(GemmCase shape, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(shape);
        _case = shape;
        long aSize = (long)shape.M * shape.K, bSize = (long)shape.K * shape.N, cSize = (long)shape.M * shape.N;
        _a = Allocate(aSize * shape.Batch);
        _b = Allocate(bSize * shape.Batch);
        _c = Allocate(cSize * shape.Batch);
        var rng = new Random(seed);
        for (long i = 0; i < aSize * shape.Batch; i++) _a[i] = (float)(rng.NextDouble() * 2 - 1);
        for (long i = 0; i < bSize * shape.Batch; i++) _b[i] = (float)(rng.NextDouble() * 2 - 1);
        new Span<float>(_c, checked((int)(cSize * shape.Batch))).Clear();
        _aOffsets = [.. Enumerable.Range(0, shape.Batch).Select(i => i * aSize)];
        _bOffsets = [.. Enumerable.Range(0, shape.Batch).Select(i => i * bSize)];
        _cOffsets = [.. Enumerable.Range(0, shape.Batch).Select(i => i * cSize)];
    }

    private static float* Allocate(long elements) => (float*)NativeMemory.AlignedAlloc((nuint)(elements * sizeof(float)), 64);

    /// <summary>The product with Ttt's GEMM (threads: <see cref="CpuParallel.Threads"/>).</summary>
    public void RunTtt()
    {
        var s = _case;
        Gemm.Batched(s.M, s.N, s.K, _a, _aOffsets, s.K, 1, _b, _bOffsets, s.N, 1, _c, _cOffsets, s.N);
    }

    /// <summary>The product with OpenBLAS, one cblas_sgemm per batch item (threads: <see cref="OpenBlas.SetThreads"/>).</summary>
    public void RunOpenBlas()
    {
        var s = _case;
        for (int i = 0; i < s.Batch; i++)
            OpenBlas.Sgemm(s.M, s.N, s.K, _a + _aOffsets[i], s.K, _b + _bOffsets[i], s.N, _c + _cOffsets[i], s.N);
    }

    /// <summary>Largest |C_ttt − C_openblas| / (1 + |C_openblas|) over all of C: a check that both computed the same thing.</summary>
    public double CompareWithOpenBlas()
    {
        long size = (long)_case.Batch * _case.M * _case.N;
        RunOpenBlas();
        var reference = new float[size];
        new ReadOnlySpan<float>(_c, checked((int)size)).CopyTo(reference);
        RunTtt();
        double worst = 0;
        for (long i = 0; i < size; i++) worst = Math.Max(worst, Math.Abs(_c[i] - reference[i]) / (1 + Math.Abs(reference[i])));
        return worst;
    }

    public void Dispose()
    {
        NativeMemory.AlignedFree(_a);
        NativeMemory.AlignedFree(_b);
        NativeMemory.AlignedFree(_c);
    }
}
