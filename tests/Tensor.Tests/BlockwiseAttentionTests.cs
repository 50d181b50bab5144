using System.Globalization;
using FsCheck;
using FsCheck.Fluent;
using Ttt.Testing;

namespace Ttt.Tests;

/// <summary>
/// The blockwise (online-softmax) attention kernel against the materialised composition
/// <see cref="Attention.Reference"/>: outputs and dq, dk, dv in float64 and float32, across block boundaries,
/// layouts, causal alignments and thread splits; finite-difference checks to second order; memory linear in T.
/// </summary>
public class BlockwiseAttentionTests
{
    /// <summary>How q, k and v are laid out.</summary>
    public enum Layout
    {
        /// <summary>Row-major [B, H, T, d].</summary>
        Contiguous,
        /// <summary>A [B, T, H, d] tensor viewed as [B, H, T, d] (what the model passes): strided, unit along d.</summary>
        HeadsTransposed,
        /// <summary>Gaps after every row (unit stride along d).</summary>
        Narrowed,
        /// <summary>All dims reversed: d is not unit-stride, so the op copies first.</summary>
        Permuted,
    }

    public sealed record Case(int B, int H, int Tq, int Tk, int D, bool Causal, double? Scale, int QueryBlock, int KeyBlock,
        Layout Layout, bool SumLoss, ulong Seed, int VectorBits = 0)
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"B={B} H={H} Tq={Tq} Tk={Tk} d={D} causal={Causal} scale={Scale?.ToString("R", CultureInfo.InvariantCulture) ?? "1/√d"} blocks={QueryBlock}×{KeyBlock} layout={Layout} sumLoss={SumLoss} seed={Seed} vectorBits={(VectorBits == 0 ? "native" : VectorBits)}");
    }

    private static Tensor Build(int b, int h, int t, int d, Layout layout, ulong seed, DType dtype)
    {
        var values = Tensor.Rand([b, t, h, d], new Generator(seed), DType.Float64, -2, 2).To(dtype); // [B, T, H, d]
        var bhtd = values.Transpose(1, 2);                                                            // [B, H, T, d] view
        return layout switch
        {
            Layout.HeadsTransposed => bhtd,
            Layout.Narrowed => TensorGen.Build([b, h, t, d], seed, ViewKind.Narrowed, dtype),
            Layout.Permuted => TensorGen.Build([b, h, t, d], seed, ViewKind.Permuted, dtype),
            _ => bhtd.Contiguous(),
        };
    }

    private static (Tensor Q, Tensor K, Tensor V) Inputs(Case c, DType dtype) =>
        (Build(c.B, c.H, c.Tq, c.D, c.Layout, c.Seed, dtype),
         Build(c.B, c.H, c.Tk, c.D, c.Layout, c.Seed + 1, dtype),
         Build(c.B, c.H, c.Tk, c.D, c.Layout, c.Seed + 2, dtype));

    /// <summary>Output and gradients of ⟨f(q, k, v), r⟩ (or of Σ f when <see cref="Case.SumLoss"/>).</summary>
    private static (Tensor Out, Tensor[] Grads) Run(Func<Tensor, Tensor, Tensor, Tensor> f, Tensor q, Tensor k, Tensor v, Case c)
    {
        var leaves = new[] { q.Detach().RequireGrad(), k.Detach().RequireGrad(), v.Detach().RequireGrad() };
        var y = f(leaves[0], leaves[1], leaves[2]);
        Tensor objective;
        if (c.SumLoss) objective = y.Sum(); // upstream gradient is a broadcast scalar (stride 0 everywhere)
        else
        {
            var r = Tensor.RandN(y.ShapeArray(), new Generator(c.Seed + 3), DType.Float64).To(y.DType);
            objective = (y * r).Sum();
        }
        return (y.Detach(), Autograd.Grad([objective], leaves));
    }

    private static Tensor Blockwise(Case c, Tensor q, Tensor k, Tensor v) =>
        Tensor.BlockwiseAttention(q, k, v, c.Causal, c.Scale, c.QueryBlock, c.KeyBlock, c.VectorBits);

    private static Tensor Reference(Case c, Tensor q, Tensor k, Tensor v) => Attention.Reference(q, k, v, c.Causal, c.Scale);

    /// <summary>
    /// |a − e| ≤ atol·max(max|e|, 1) + rtol·|e| element-wise. The max|e| term makes atol relative to the tensor's
    /// scale (gradients range over orders of magnitude); the floor of 1 (inputs and upstream gradients are O(1))
    /// covers gradients that cancel exactly on one side only: with a single visible key P = 1 and the reference's
    /// dS = P·(dP − Σ dP·P) is exactly 0, while the kernel's D = rowsum(dO ⊙ O) rounds differently from dP.
    /// </summary>
    private static void AssertClose(Tensor expected, Tensor actual, double atol, double rtol, string what)
    {
        Assert.Equal(expected.Shape.ToArray(), actual.Shape.ToArray());
        var e = expected.ToDoubleArray();
        var a = actual.ToDoubleArray();
        double scale = e.Length == 0 ? 0 : e.Max(Math.Abs);
        double maxAbs = 0, maxRel = 0;
        int worst = -1;
        for (int i = 0; i < e.Length; i++)
        {
            double err = Math.Abs(a[i] - e[i]);
            maxRel = Math.Max(maxRel, err / Math.Max(Math.Abs(e[i]), 1e-300));
            if (!(err <= atol * Math.Max(scale, 1) + rtol * Math.Abs(e[i])) && (worst < 0 || err > maxAbs)) worst = i;
            maxAbs = Math.Max(maxAbs, double.IsNaN(err) ? double.PositiveInfinity : err);
        }
        if (worst >= 0)
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"{what}: element {worst}: expected {e[worst]:R}, got {a[worst]:R} (max abs error {maxAbs:G3}, max rel error {maxRel:G3}, max |expected| {scale:G3})"));
    }

    private static readonly string[] GradNames = ["dq", "dk", "dv"];

    /// <summary>Runs both sides on the same inputs and compares output and gradients.</summary>
    private static void Compare(Case c, DType dtype, double atol, double rtol)
    {
        var (q, k, v) = Inputs(c, dtype);
        var (q64, k64, v64) = (q.To(DType.Float64), k.To(DType.Float64), v.To(DType.Float64)); // exact widening
        var fast = Run((a, b, d) => Blockwise(c, a, b, d), q, k, v, c);
        var reference = Run((a, b, d) => Reference(c, a, b, d), q64, k64, v64, c);
        AssertClose(reference.Out, fast.Out, atol, rtol, $"{c} {dtype.Name()}: output");
        for (int i = 0; i < 3; i++) AssertClose(reference.Grads[i], fast.Grads[i], atol, rtol, $"{c} {dtype.Name()}: {GradNames[i]}");
    }

    // float64: both sides compute in double; they differ only by summation order and the vector exp (a few ulp),
    // amplified by sums over ≤ d·Tk terms.
    private const double Atol64 = 1e-12, Rtol64 = 1e-10;

    // float32 against the float64 reference on the same (float32) inputs: every product, dot and exp rounds at
    // 2⁻²⁴ ≈ 6e-8 relative; scores are sums of d ≤ 96 terms and outputs/gradients sums of Tk ≤ 257 terms of
    // magnitude ≤ 4, so the worst error stays a few hundred ulp of the tensor's largest magnitude (≈ 2e-5).
    private const double Atol32 = 2e-5, Rtol32 = 1e-4;

    private static Gen<Case> SmallCases =>
        from b in Gen.Choose(1, 2)
        from h in Gen.Choose(1, 3)
        from tk in Gen.Choose(1, 40)
        from causal in Gen.Elements(true, true, false)
        from square in Gen.Elements(true, false)
        from tq in square ? Gen.Constant(tk) : Gen.Choose(1, causal ? tk : 40)
        // d: below, at and above the vector widths (2..16 lanes), including odd sizes
        from d in Gen.OneOf(Gen.Choose(1, 9), Gen.Elements(16, 20, 24, 33))
        from scale in Gen.Elements<double?>(null, null, 0.3, -0.7, 2.0)
        from qb in Gen.Elements(1, 2, 3, 5, 8, 16, 64)
        from kb in Gen.Elements(1, 2, 3, 4, 7, 8, 16, 64)
        from layout in Gen.Elements(Layout.Contiguous, Layout.HeadsTransposed, Layout.Narrowed, Layout.Permuted)
        from sumLoss in Gen.Elements(false, false, true)
        from seed in Gen.Choose(0, int.MaxValue)
        // 0 = the CPU's widest vectors; 256 and 128 force the code paths other CPUs take
        from bits in Gen.Elements(0, 0, 256, 128)
        select new Case(b, h, tq, tk, d, causal, scale, qb, kb, layout, sumLoss, (ulong)seed, bits);

    private static void Property(Gen<Case> gen, Action<Case> body, int tests) =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(tests), Prop.ForAll(gen.ToArbitrary(), c =>
        {
            body(c);
            return true;
        }));

    [Fact]
    public void Float64_output_and_gradients_match_the_reference_on_generated_shapes() =>
        Property(SmallCases, c => Compare(c, DType.Float64, Atol64, Rtol64), 150);

    [Fact]
    public void Float32_output_and_gradients_match_the_float64_reference_on_generated_shapes() =>
        Property(SmallCases, c => Compare(c, DType.Float32, Atol32, Rtol32), 100);

    // Default 64×64 blocks: T not a multiple of the block (partial last blocks, diagonal blocks cut mid-block),
    // T = 1, d below/at/above the vector width, B·H > 1 so the work splits across threads (private dQ buffers).
    [Theory]
    [InlineData(1, 2, 130, 64, true, "float64")]
    [InlineData(2, 3, 100, 20, true, "float32")]
    [InlineData(1, 1, 1, 64, true, "float32")]
    [InlineData(1, 1, 1, 3, true, "float64")]
    [InlineData(1, 2, 257, 96, true, "float32")]
    [InlineData(2, 2, 200, 5, true, "float64")]
    [InlineData(1, 3, 150, 64, false, "float64")]
    [InlineData(3, 1, 64, 64, true, "float32")]
    public void Default_blocks_match_the_reference(int b, int h, int t, int d, bool causal, string dtype)
    {
        var type = dtype == "float32" ? DType.Float32 : DType.Float64;
        var c = new Case(b, h, t, t, d, causal, null, Cpu.Fast.BlockwiseAttentionKernel.DefaultQueryBlock, Cpu.Fast.BlockwiseAttentionKernel.DefaultKeyBlock,
            Layout.HeadsTransposed, SumLoss: false, Seed: (ulong)(b * 1000 + t));
        if (type == DType.Float32) Compare(c, type, Atol32, Rtol32);
        else Compare(c, type, Atol64, Rtol64);
    }

    [Theory]
    [InlineData(256)]
    [InlineData(128)]
    public void Narrower_vector_paths_match_the_reference_with_default_blocks(int bits)
    {
        var c64 = new Case(2, 2, 150, 150, 64, true, null, 64, 64, Layout.HeadsTransposed, false, 17, bits);
        Compare(c64, DType.Float64, Atol64, Rtol64);
        var c32 = new Case(1, 3, 97, 130, 40, true, null, 64, 64, Layout.Contiguous, false, 18, bits);
        Compare(c32, DType.Float32, Atol32, Rtol32);
    }

    [Fact]
    public void Decoding_queries_against_a_longer_key_sequence_match_the_reference()
    {
        // The cached-decoding shape: a few new queries are the last positions of the key sequence.
        foreach (var (tq, tk) in new[] { (1, 1), (1, 77), (3, 130), (64, 200), (65, 65) })
        {
            var c = new Case(2, 2, tq, tk, 16, true, null, 64, 64, Layout.HeadsTransposed, false, (ulong)(tq * 7 + tk));
            Compare(c, DType.Float64, Atol64, Rtol64);
        }
    }

    [Fact]
    public void Public_overload_uses_scale_one_over_sqrt_d_and_matches_the_reference()
    {
        var (q, k, v) = Inputs(new Case(1, 2, 9, 9, 6, true, null, 64, 64, Layout.Contiguous, false, 11), DType.Float64);
        AssertClose(Attention.Reference(q, k, v, causal: true, scale: 1 / Math.Sqrt(6)), Tensor.BlockwiseAttention(q, k, v), Atol64, Rtol64, "default scale");
        AssertClose(Attention.Reference(q, k, v, causal: false, scale: 0.5), Tensor.BlockwiseAttention(q, k, v, causal: false, scale: 0.5), Atol64, Rtol64, "explicit scale");
    }

    [Fact]
    public void First_query_attends_only_to_the_first_key()
    {
        // Row 0 of causal attention is v[0] exactly, whatever the scores: an independent check of the masking.
        var (q, k, v) = Inputs(new Case(2, 2, 70, 70, 8, true, null, 64, 64, Layout.Contiguous, false, 5), DType.Float64);
        var y = Tensor.BlockwiseAttention(q, k, v, causal: true, scale: 3.0, queryBlock: 16, keyBlock: 8);
        AssertClose(v.Narrow(2, 0, 1), y.Narrow(2, 0, 1), 1e-15, 0, "row 0");
    }

    // -------------------------------------------------------------------------------------- finite differences

    public sealed record SmallShape(int B, int H, int Tq, int Tk, int D, bool Causal, int QueryBlock, int KeyBlock, ulong Seed)
    {
        public override string ToString() => $"B={B} H={H} Tq={Tq} Tk={Tk} d={D} causal={Causal} blocks={QueryBlock}×{KeyBlock} seed={Seed}";
    }

    private static Gen<SmallShape> FiniteDifferenceShapes =>
        from b in Gen.Choose(1, 2)
        from h in Gen.Choose(1, 2)
        from tk in Gen.Choose(1, 6)
        from causal in Gen.Elements(true, false)
        from tq in Gen.Choose(1, tk)
        from d in Gen.Choose(1, 4)
        from qb in Gen.Elements(1, 2, 4)
        from kb in Gen.Elements(1, 3, 64)
        from seed in Gen.Choose(0, int.MaxValue)
        select new SmallShape(b, h, tq, tk, d, causal, qb, kb, (ulong)seed);

    private static Tensor[] Inputs(SmallShape s) =>
    [
        Tensor.RandN([s.B, s.H, s.Tq, s.D], new Generator(s.Seed), DType.Float64),
        Tensor.RandN([s.B, s.H, s.Tk, s.D], new Generator(s.Seed + 1), DType.Float64),
        Tensor.RandN([s.B, s.H, s.Tk, s.D], new Generator(s.Seed + 2), DType.Float64),
    ];

    [Fact]
    public void First_order_gradients_match_finite_differences() =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(30), Prop.ForAll(FiniteDifferenceShapes.ToArbitrary(), s =>
        {
            var r = GradCheck.First(xs => Tensor.BlockwiseAttention(xs[0], xs[1], xs[2], s.Causal, null, s.QueryBlock, s.KeyBlock), Inputs(s), s.Seed);
            return r.Passed ? true : throw new InvalidOperationException($"{s}: {r}");
        }));

    [Fact]
    public void Second_order_gradients_through_the_recorded_fallback_match_finite_differences() =>
        // The inner backward runs with createGraph (the composed fallback); its derivative is compared with
        // central differences of the kernel's first-order gradients.
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(20), Prop.ForAll(FiniteDifferenceShapes.ToArbitrary(), s =>
        {
            var r = GradCheck.Second(xs => Tensor.BlockwiseAttention(xs[0], xs[1], xs[2], s.Causal, null, s.QueryBlock, s.KeyBlock), Inputs(s), s.Seed);
            return r.Passed ? true : throw new InvalidOperationException($"{s}: {r}");
        }));

    [Fact]
    public void Recorded_backward_gives_the_kernel_gradients()
    {
        // createGraph switches backward to the composed ops: both paths must give the same first-order values.
        var s = new SmallShape(2, 2, 37, 37, 5, true, 8, 16, 3);
        var xs = Inputs(s).Select(t => t.RequireGrad()).ToArray();
        var r = Tensor.RandN([2, 2, 37, 5], new Generator(9), DType.Float64);
        Tensor Objective() => (Tensor.BlockwiseAttention(xs[0], xs[1], xs[2], true, null, 8, 16) * r).Sum();
        var kernel = Autograd.Grad([Objective()], xs);
        var recorded = Autograd.Grad([Objective()], xs, createGraph: true);
        Assert.True(recorded[0].RequiresGrad, "a createGraph backward must return differentiable gradients");
        for (int i = 0; i < 3; i++) AssertClose(recorded[i].Detach(), kernel[i], Atol64, Rtol64, GradNames[i]);
    }

    // -------------------------------------------------------------------------------------------------- memory

    [Fact]
    public void Saved_memory_grows_linearly_with_the_sequence_length()
    {
        static long Saved(int t, bool blockwise)
        {
            var q = Tensor.RandN([1, 1, t, 2], new Generator(1), DType.Float64).RequireGrad();
            var k = Tensor.RandN([1, 1, t, 2], new Generator(2), DType.Float64).RequireGrad();
            var v = Tensor.RandN([1, 1, t, 2], new Generator(3), DType.Float64).RequireGrad();
            var y = blockwise ? Tensor.BlockwiseAttention(q, k, v) : Attention.Reference(q, k, v);
            return Autograd.SavedBytes(y);
        }
        long b512 = Saved(512, true), b1024 = Saved(1024, true), b2048 = Saved(2048, true);
        // q, k, v, output (T·d each) and the log-sum-exp (T): 9·T doubles.
        Assert.Equal(9L * 2048 * sizeof(double), b2048);
        Assert.True(b1024 <= 2.01 * b512 && b2048 <= 2.01 * b1024, $"saved bytes {b512}, {b1024}, {b2048} are not linear in T");
        // The measure does see quadratic memory: the materialised reference keeps T×T probabilities.
        long r512 = Saved(512, false), r1024 = Saved(1024, false);
        Assert.True(r1024 > 3.5 * r512, $"reference saved bytes {r512}, {r1024}: expected quadratic growth");
        Assert.True(b2048 * 100 < 2048L * 2048 * sizeof(double), "blockwise attention saves a T×T-sized buffer");
    }

    // ----------------------------------------------------------------------------------------------------- exp

    private static double[] ExpArguments()
    {
        var xs = new List<double> { 0, -0.0, 1e-30, -1e-30, 0.5 * Math.Log(2), -0.5 * Math.Log(2), 1, -1, 10, -10, 80, -80, -87, -87.2, -700, -708, 88, 700 };
        var gen = new Generator(42);
        var uniform = Tensor.Rand([4000], gen, DType.Float64, -87.2, 88).ToDoubleArray();
        xs.AddRange(uniform);
        return [.. xs];
    }

    private static double[] KernelExp<T, TV, TS>(double[] xs)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, Cpu.Fast.IAttentionSimd<TV, T>
    {
        var input = xs.Select(T.CreateTruncating).ToArray();
        var output = new T[input.Length];
        Cpu.Fast.AttentionExp.Apply<T, TV, TS>(input, output);
        return [.. output.Select(double.CreateTruncating)];
    }

    /// <summary>Largest relative error against Math.Exp over the arguments (rounded to T) that <paramref name="inRange"/> keeps.</summary>
    private static double MaxRelativeExpError<T, TV, TS>(double[] xs, Func<double, bool> inRange)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, Cpu.Fast.IAttentionSimd<TV, T>
    {
        var rounded = xs.Select(x => double.CreateTruncating(T.CreateTruncating(x))).ToArray();
        var actual = KernelExp<T, TV, TS>(rounded);
        double worst = 0;
        for (int i = 0; i < rounded.Length; i++)
        {
            if (!inRange(rounded[i])) continue;
            double expected = Math.Exp(rounded[i]);
            worst = Math.Max(worst, double.IsNaN(actual[i]) ? double.PositiveInfinity : Math.Abs(actual[i] - expected) / expected);
        }
        return worst;
    }

    [Fact]
    public void Kernel_exp_is_accurate_at_every_vector_width()
    {
        var xs = ExpArguments();
        // float: Cephes' minimax polynomial is within 1 ulp (6e-8) before the final rounding steps; allow 2 ulp.
        // Arguments within float's normal output range only (below −87.3 the kernel returns 0 by design).
        static bool Float(double x) => x >= -87.3 && x <= 88.3;
        const double floatTol = 2.4e-7;
        double f512 = MaxRelativeExpError<float, System.Runtime.Intrinsics.Vector512<float>, Cpu.Fast.Simd512<float>>(xs, Float);
        Assert.True(f512 <= floatTol, $"float exp relative error {f512:G3}");
        Assert.True(MaxRelativeExpError<float, System.Runtime.Intrinsics.Vector256<float>, Cpu.Fast.Simd256<float>>(xs, Float) <= floatTol);
        Assert.True(MaxRelativeExpError<float, System.Runtime.Intrinsics.Vector128<float>, Cpu.Fast.Simd128<float>>(xs, Float) <= floatTol);
        // double: the degree-13 Taylor polynomial truncates at 4e-18; the rest is rounding of ~16 operations.
        static bool Double(double x) => x >= -708.3 && x <= 709;
        const double doubleTol = 1e-15;
        double e512 = MaxRelativeExpError<double, System.Runtime.Intrinsics.Vector512<double>, Cpu.Fast.Simd512<double>>(xs, Double);
        Assert.True(e512 <= doubleTol, $"double exp relative error {e512:G3}");
        Assert.True(MaxRelativeExpError<double, System.Runtime.Intrinsics.Vector256<double>, Cpu.Fast.Simd256<double>>(xs, Double) <= doubleTol);
        Assert.True(MaxRelativeExpError<double, System.Runtime.Intrinsics.Vector128<double>, Cpu.Fast.Simd128<double>>(xs, Double) <= doubleTol);
    }

    [Fact]
    public void Kernel_exp_maps_minus_infinity_to_zero_and_keeps_nan()
    {
        var f = KernelExp<float, System.Runtime.Intrinsics.Vector256<float>, Cpu.Fast.Simd256<float>>([double.NegativeInfinity, double.NaN, -1000, 0]);
        Assert.Equal(0, f[0]);
        Assert.True(double.IsNaN(f[1]));
        Assert.Equal(0, f[2]);
        Assert.Equal(1, f[3]);
        var d = KernelExp<double, System.Runtime.Intrinsics.Vector512<double>, Cpu.Fast.Simd512<double>>([double.NegativeInfinity, double.NaN]);
        Assert.Equal(0, d[0]);
        Assert.True(double.IsNaN(d[1]));
    }

    // -------------------------------------------------------------------------------------------------- errors

    [Fact]
    public void Invalid_shapes_are_rejected_with_clear_messages()
    {
        var q = Tensor.Zeros([1, 2, 5, 4], DType.Float64);
        var k = Tensor.Zeros([1, 2, 3, 4], DType.Float64);
        var e = Assert.Throws<ArgumentException>(() => Tensor.BlockwiseAttention(q, k, k));
        Assert.Contains("Tq = 5 > Tk = 3", e.Message, StringComparison.Ordinal);
        Assert.Equal([1, 2, 5, 4], Tensor.BlockwiseAttention(q, k, k, causal: false).Shape.ToArray());
        e = Assert.Throws<ArgumentException>(() => Tensor.BlockwiseAttention(q.Reshape(2, 5, 4), q, q));
        Assert.Contains("[B, H, T, d]", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => Tensor.BlockwiseAttention(q, Tensor.Zeros([1, 2, 5, 3], DType.Float64), q));
        Assert.Contains("B, H and d of q", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => Tensor.BlockwiseAttention(q, q.To(DType.Float32), q));
        Assert.Contains("dtypes differ", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => Tensor.BlockwiseAttention(q, q, q, scale: double.NaN));
        Assert.Contains("scale", e.Message, StringComparison.Ordinal);
    }
}


/// <summary>
/// Speed of blockwise attention against the materialised reference at B = 1, H = 12, T = 2048, d = 64, float32, on
/// 2 threads. Explicit (not part of the test run); run it with
/// <c>tests/Tensor.Tests/bin/Release/net10.0/Ttt.Tensor.Tests -class Ttt.Tests.BlockwiseAttentionBenchmark -explicit only -showLiveOutput</c>.
/// </summary>
public class BlockwiseAttentionBenchmark(ITestOutputHelper output)
{
    [Fact(Explicit = true)]
    public void Forward_and_backward_speed_against_the_reference()
    {
        const int b = 1, h = 12, t = 2048, d = 64;
        int threads = Cpu.CpuParallel.Threads;
        Cpu.CpuParallel.Threads = 2;
        try
        {
            var gen = new Generator(1);
            var q = Tensor.RandN([b, h, t, d], gen, DType.Float32);
            var k = Tensor.RandN([b, h, t, d], gen, DType.Float32);
            var v = Tensor.RandN([b, h, t, d], gen, DType.Float32);
            var g = Tensor.RandN([b, h, t, d], gen, DType.Float32);
            using var process = System.Diagnostics.Process.GetCurrentProcess();
            double CpuMs()
            {
                process.Refresh();
                return process.TotalProcessorTime.TotalMilliseconds;
            }
            // Median wall and CPU time of `runs` calls after `warmup` calls.
            (double Wall, double Cpu) Median(Action body, int warmup, int runs)
            {
                for (int i = 0; i < warmup; i++) body();
                var walls = new List<double>();
                var cpus = new List<double>();
                for (int i = 0; i < runs; i++)
                {
                    double c0 = CpuMs();
                    var sw = System.Diagnostics.Stopwatch.StartNew();
                    body();
                    walls.Add(sw.Elapsed.TotalMilliseconds);
                    cpus.Add(CpuMs() - c0);
                }
                return (walls.Order().ElementAt(runs / 2), cpus.Order().ElementAt(runs / 2));
            }
            Tensor Forward(Func<Tensor, Tensor, Tensor, Tensor> attention)
            {
                using (GradMode.Disable()) return attention(q, k, v);
            }
            void ForwardBackward(Func<Tensor, Tensor, Tensor, Tensor> attention)
            {
                var leaves = new[] { q.Detach().RequireGrad(), k.Detach().RequireGrad(), v.Detach().RequireGrad() };
                Autograd.Grad([attention(leaves[0], leaves[1], leaves[2])], leaves, [g]);
            }
            Func<Tensor, Tensor, Tensor, Tensor> blockwise = (x, y, z) => Tensor.BlockwiseAttention(x, y, z);
            Func<Tensor, Tensor, Tensor, Tensor> reference = (x, y, z) => Attention.Reference(x, y, z);

            double maxDiff = Forward(blockwise).ToDoubleArray().Zip(Forward(reference).ToDoubleArray(), (x, y) => Math.Abs(x - y)).Max();
            var bf = Median(() => Forward(blockwise), 2, 7);
            var bfb = Median(() => ForwardBackward(blockwise), 2, 7);
            var rf = Median(() => Forward(reference), 1, 3);
            var rfb = Median(() => ForwardBackward(reference), 1, 3);
            // Useful causal work: forward 2 products of T²/2·d multiply-adds per head, backward 5.
            double flopsForward = 2.0 * 2 * b * h * t * (double)t / 2 * d, flopsBackward = 2.5 * flopsForward;
            string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
            output.WriteLine($"B={b} H={h} T={t} d={d} float32, {Cpu.CpuParallel.Threads} threads, {Environment.ProcessorCount} processors, load average {load}");
            output.WriteLine($"max |blockwise − reference| = {maxDiff:G3}");
            output.WriteLine("                          wall ms (median)   CPU ms (median)   GFLOP/s (causal work / wall)");
            output.WriteLine($"blockwise forward         {bf.Wall,10:F1}       {bf.Cpu,10:F1}        {flopsForward / bf.Wall / 1e6,8:F1}");
            output.WriteLine($"blockwise fwd+bwd         {bfb.Wall,10:F1}       {bfb.Cpu,10:F1}        {(flopsForward + flopsBackward) / bfb.Wall / 1e6,8:F1}");
            output.WriteLine($"reference forward         {rf.Wall,10:F1}       {rf.Cpu,10:F1}        {flopsForward / rf.Wall / 1e6,8:F1}");
            output.WriteLine($"reference fwd+bwd         {rfb.Wall,10:F1}       {rfb.Cpu,10:F1}        {(flopsForward + flopsBackward) / rfb.Wall / 1e6,8:F1}");
            output.WriteLine($"speed-up: forward {rf.Wall / bf.Wall:F1}×, fwd+bwd {rfb.Wall / bfb.Wall:F1}×");
            Assert.True(maxDiff < 1e-4, $"blockwise and reference outputs differ by {maxDiff}");
        }
        finally
        {
            Cpu.CpuParallel.Threads = threads;
        }
    }

    [Fact(Explicit = true)]
    public void Decoding_step_cost_grows_linearly_with_the_cached_length()
    {
        // One new query per head against L cached keys: O(L·d) per head (the row path).
        const int h = 12, d = 64;
        foreach (int length in new[] { 1024, 4096, 16384 })
        {
            var gen = new Generator((ulong)length);
            var q = Tensor.RandN([1, h, 1, d], gen, DType.Float32);
            var k = Tensor.RandN([1, h, length, d], gen, DType.Float32);
            var v = Tensor.RandN([1, h, length, d], gen, DType.Float32);
            using var _ = GradMode.Disable();
            for (int i = 0; i < 20; i++) Tensor.BlockwiseAttention(q, k, v);
            var times = new List<double>();
            for (int i = 0; i < 101; i++)
            {
                var sw = System.Diagnostics.Stopwatch.StartNew();
                Tensor.BlockwiseAttention(q, k, v);
                times.Add(sw.Elapsed.TotalMilliseconds);
            }
            output.WriteLine($"H={h} d={d} float32, one query against L={length,6}: median {times.Order().ElementAt(50):F3} ms ({Cpu.CpuParallel.Threads} threads)");
        }
    }
}
