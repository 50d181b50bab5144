using FsCheck;
using FsCheck.Fluent;
using Ttt.Models;

namespace Ttt.Tests.Baselines;

/// <summary>
/// The selective scan: the chunked SIMD kernel (every vector width, both dtypes) against a naive float64
/// recurrence, outputs and all six gradients; finite-difference checks of first and second order; the composed
/// reference; memory of the saved state; input validation.
/// </summary>
public class MambaScanTests
{
    public sealed record KernelCase(ScanSize Size, int Chunk, int Bits, ulong Seed)
    {
        public override string ToString() => $"B={Size.B} L={Size.L} E={Size.E} N={Size.N} chunk={Chunk} bits={Bits} seed={Seed}";
    }

    /// <summary>Runs the kernel path of the op at a given width: y, final state and the six gradients of Σ y ⊙ dy.</summary>
    private static (double[] Y, double[] Last, double[][] Grads) RunKernel(ScanInputs x, DType dtype, int chunk, int bits)
    {
        var inputs = x.Tensors(dtype).Select(t => t.RequireGrad()).ToArray();
        var (y, last) = SelectiveScan.Run(inputs[0], inputs[1], inputs[2], inputs[3], inputs[4], inputs[5], chunk, wantLastState: true, bits);
        Assert.NotNull(y.GradFn);
        var grads = Autograd.Grad([y], inputs, [x.DyTensor(dtype)]);
        return (y.ToDoubleArray(), last!.ToDoubleArray(), grads.Select(g => g.ToDoubleArray()).ToArray());
    }

    private static readonly string[] GradNames = ["du", "dΔ", "dA", "dB", "dC", "dD"];

    /// <summary>Largest relative error of the kernel against the naive recurrence over y, h_L and the gradients.</summary>
    private static (double Error, string Where) CompareWithNaive(ScanInputs x, DType dtype, int chunk, int bits)
    {
        var (y, last) = NaiveScan.Forward(x);
        var grads = NaiveScan.Backward(x);
        var k = RunKernel(x, dtype, chunk, bits);
        var errors = new List<(double, string)> { (NaiveScan.RelError(y, k.Y), "y"), (NaiveScan.RelError(last, k.Last), "h_L") };
        for (int i = 0; i < 6; i++) errors.Add((NaiveScan.RelError(grads[i], k.Grads[i]), GradNames[i]));
        return errors.MaxBy(e => e.Item1);
    }

    private static Gen<KernelCase> KernelCases(int maxLength) =>
        from b in Gen.Choose(1, 3)
        from l in Gen.Choose(1, maxLength)
        from e in Gen.Choose(1, 37)          // 37: two full 512-bit float blocks and a partial one
        from n in Gen.Choose(1, 5)
        from chunk in Gen.Choose(1, 17)
        from bits in Gen.Elements(128, 256, 512)
        from seed in Gen.Choose(0, int.MaxValue)
        select new KernelCase(new ScanSize(b, l, e, n), chunk, bits, (ulong)seed);

    [Fact]
    public void Kernel_matches_the_naive_recurrence_in_float64()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(60), Prop.ForAll(KernelCases(40).ToArbitrary(), c =>
        {
            var (error, where) = CompareWithNaive(ScanInputs.Random(c.Size, c.Seed), DType.Float64, c.Chunk, c.Bits);
            // Same operations in a different order (FMA, two accumulators): a few ulp relative to the largest value.
            return error <= 1e-12 ? true : throw new InvalidOperationException($"{c}: {where} differs by {error:G3}");
        }));
    }

    [Fact]
    public void Kernel_matches_the_naive_recurrence_in_float32_within_rounding()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(60), Prop.ForAll(KernelCases(40).ToArbitrary(), c =>
        {
            var x = ScanInputs.Random(c.Size, c.Seed, float32: true);
            var (error, where) = CompareWithNaive(x, DType.Float32, c.Chunk, c.Bits);
            // Inputs are exactly representable, so the error is the float32 arithmetic alone: each value is a sum
            // of at most L·N (gradients of A: B·L; of B and C: E channels) products formed through a recurrence of
            // up to L steps, each step rounding at ε = 2⁻²⁴ ≈ 6e-8. A bound linear in the number of rounded steps,
            // with a factor 4 for exp and the dot products and relative to the largest value: 4·ε·(B·L + N + E).
            // E joined the sum after a case with L = 1, N = 4 and E = 30 put dC 1.43e-6 off against 4·ε·(B·L + N).
            double bound = 4 * Math.Pow(2, -24) * (c.Size.B * c.Size.L + c.Size.N + c.Size.E);
            return error <= bound ? true : throw new InvalidOperationException($"{c}: {where} differs by {error:G3} (bound {bound:G3})");
        }));
    }

    [Theory]
    [InlineData(1, 64)]     // L = 1
    [InlineData(1, 1)]
    [InlineData(12, 4)]     // chunk divides L
    [InlineData(13, 4)]     // it does not
    [InlineData(16, 16)]    // one full chunk
    [InlineData(17, 16)]    // one full chunk and a single step
    [InlineData(30, 1)]     // every step its own chunk
    public void Chunk_boundaries_do_not_change_the_results(int length, int chunk)
    {
        foreach (int bits in (int[])[128, 256, 512])
        {
            var x = ScanInputs.Random(new ScanSize(2, length, 19, 4), (ulong)(length * 100 + chunk));
            var (error, where) = CompareWithNaive(x, DType.Float64, chunk, bits);
            Assert.True(error <= 1e-12, $"L={length} chunk={chunk} bits={bits}: {where} differs by {error:G3}");
        }
    }

    [Fact]
    public void Fast_decay_underflows_to_zero_without_nan()
    {
        // Δ·A down to −1000: exp underflows to 0 (the state forgets at once); the vector exp must agree.
        var s = new ScanSize(1, 9, 11, 3);
        var x = ScanInputs.Random(s, 3);
        var gen = new Generator(4);
        var wide = new ScanInputs
        {
            Size = s, U = x.U, Bm = x.Bm, Cm = x.Cm, D = x.D, Dy = x.Dy,
            Delta = x.Delta.Select(_ => 50 * gen.NextDouble()).ToArray(),
            A = x.A.Select(_ => -20 * gen.NextDouble()).ToArray(),
        };
        foreach (int bits in (int[])[128, 256, 512])
        {
            var (error, where) = CompareWithNaive(wide, DType.Float64, 4, bits);
            Assert.True(error <= 1e-12, $"bits={bits}: {where} differs by {error:G3}");
        }
    }

    [Fact]
    public void Reference_matches_the_naive_recurrence()
    {
        var x = ScanInputs.Random(new ScanSize(2, 7, 5, 3), 11);
        var t = x.Tensors(DType.Float64);
        var (y, last) = SelectiveScan.ReferenceWithState(t[0], t[1], t[2], t[3], t[4], t[5]);
        var (ey, elast) = NaiveScan.Forward(x);
        Assert.True(NaiveScan.RelError(ey, y.ToDoubleArray()) <= 1e-13);
        Assert.True(NaiveScan.RelError(elast, last.ToDoubleArray()) <= 1e-13);
    }

    [Fact]
    public void Non_contiguous_inputs_give_the_results_of_contiguous_ones()
    {
        // The mixer passes B and C as narrowed views of x_proj's output; u and Δ may be transposed views.
        var s = new ScanSize(2, 9, 6, 3);
        var x = ScanInputs.Random(s, 21);
        var t = x.Tensors(DType.Float64);
        var packed = Tensor.Cat([t[3], t[4], t[3]], -1);                  // [B, L, 3N]
        var b = packed.Narrow(-1, 0, s.N);
        var c = packed.Narrow(-1, s.N, s.N);
        var u = t[0].Transpose(1, 2).Contiguous().Transpose(1, 2);         // same values, strides of [B, E, L]
        Assert.False(b.IsContiguous);
        Assert.False(u.IsContiguous);
        var expected = SelectiveScan.Apply(t[0], t[1], t[2], t[3], t[4], t[5], 4);
        var actual = SelectiveScan.Apply(u, t[1], t[2], b, c, t[5], 4);
        Assert.Equal(expected.ToDoubleArray(), actual.ToDoubleArray());
    }

    [Fact]
    public void First_order_gradients_match_finite_differences()
    {
        foreach (var (size, chunk, seed) in new[] { (new ScanSize(2, 7, 5, 3), 3, 1UL), (new ScanSize(1, 5, 9, 2), 2, 2UL), (new ScanSize(1, 1, 3, 4), 64, 3UL) })
        {
            var x = ScanInputs.Random(size, seed);
            var result = GradCheck.First(xs => SelectiveScan.Apply(xs[0], xs[1], xs[2], xs[3], xs[4], xs[5], chunk), x.Tensors(DType.Float64), seed);
            Assert.True(result.Passed, $"{size} chunk={chunk}: {result}");
        }
    }

    [Fact]
    public void Second_order_gradients_match_finite_differences()
    {
        // The analytic side differentiates the recorded (composed) backward; the finite differences difference
        // first-order gradients from the kernel's backward, so both paths are checked against each other.
        foreach (var (size, chunk, seed) in new[] { (new ScanSize(2, 4, 3, 2), 3, 5UL), (new ScanSize(1, 3, 5, 3), 2, 6UL) })
        {
            var x = ScanInputs.Random(size, seed);
            var result = GradCheck.Second(xs => SelectiveScan.Apply(xs[0], xs[1], xs[2], xs[3], xs[4], xs[5], chunk), x.Tensors(DType.Float64), seed);
            Assert.True(result.Passed, $"{size} chunk={chunk}: {result}");
        }
    }

    [Fact]
    public void Recorded_backward_gives_the_kernel_gradients()
    {
        // createGraph switches the op to the composed backward; the first-order values must not change.
        var x = ScanInputs.Random(new ScanSize(2, 11, 7, 3), 8);
        var leaves = x.Tensors(DType.Float64).Select(t => t.RequireGrad()).ToArray();
        var y = SelectiveScan.Apply(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], leaves[5], 4);
        var dy = x.DyTensor(DType.Float64);
        var kernel = Autograd.Grad([y], leaves, [dy], retainGraph: true);
        var composed = Autograd.Grad([y], leaves, [dy], createGraph: true);
        for (int i = 0; i < 6; i++)
        {
            Assert.NotNull(composed[i].GradFn);
            Assert.True(LayerTestSupport.Rel(kernel[i], composed[i]) <= 1e-12, $"{GradNames[i]} differs");
        }
    }

    [Fact]
    public void Saved_memory_is_the_inputs_plus_one_state_per_chunk()
    {
        var s = new ScanSize(2, 200, 24, 16);
        var x = ScanInputs.Random(s, 9, float32: true);
        var inputs = x.Tensors(DType.Float32).Select(t => t.RequireGrad()).ToArray();
        var y = SelectiveScan.Apply(inputs[0], inputs[1], inputs[2], inputs[3], inputs[4], inputs[5], 50);
        long inputBytes = inputs.Sum(t => t.Numel) * sizeof(float);
        long extra = Autograd.SavedBytes(y) - inputBytes;
        // ⌈200/50⌉ = 4 states of N per channel and sequence, channels padded to at most one extra 512-bit block.
        long chunkStates = (long)s.B * 4 * s.N * (s.E + 16) * sizeof(float);
        long allStates = (long)s.B * s.L * s.E * s.N * sizeof(float);
        Assert.InRange(extra, 1, chunkStates);
        Assert.True(extra * 25 <= allStates, $"saved {extra} bytes beyond the inputs; every state would be {allStates}");
    }

    [Fact]
    public void Invalid_inputs_are_rejected_with_the_shapes()
    {
        var t = ScanInputs.Random(new ScanSize(1, 3, 4, 2), 1).Tensors(DType.Float64);
        var e1 = Assert.Throws<ArgumentException>(() => SelectiveScan.Apply(t[0], t[1], t[2].Narrow(1, 0, 1), t[3], t[4], t[5]));
        Assert.Contains("B and C must be [B, L, N]", e1.Message, StringComparison.Ordinal);
        var e2 = Assert.Throws<ArgumentException>(() => SelectiveScan.Apply(t[0], t[1].To(DType.Float32), t[2], t[3], t[4], t[5]));
        Assert.Contains("dtypes differ", e2.Message, StringComparison.Ordinal);
        var e3 = Assert.Throws<ArgumentException>(() => SelectiveScan.Apply(t[0], t[1], t[2], t[3], t[4], t[5].Narrow(0, 0, 3)));
        Assert.Contains("D must be [E·D] = [4]", e3.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => SelectiveScan.Apply(t[0], t[1], t[2], t[3], t[4], t[5], chunkSize: 0));
    }
}
