using FsCheck;
using FsCheck.Fluent;
using Ttt.Backends;
using Ttt.Cpu;
using Ttt.Testing;

namespace Ttt.Tests;

/// <summary>
/// The fast CPU path against the plain-loop reference, primitive by primitive, in float32 and float64, on
/// generated shapes, permuted/narrowed/broadcast views and broadcast pairs. The reference computes in double
/// precision, so the float32 tolerance covers the fast path's single-precision arithmetic and vector math.
/// </summary>
public class BackendEquivalenceTests
{
    private static readonly IBackend Fast = CpuBackends.Fast;
    private static readonly IBackend Reference = CpuBackends.Reference;

    // float64: both sides are double; vector exp/log differ from libm by a few ulp.
    // float32: single-precision rounding of each op (~6e-8) amplified by at most a few ops and by sums.
    private static (double Atol, double Rtol) Tol(DType t) => t == DType.Float64 ? (1e-12, 1e-12) : (2e-6, 2e-5);

    private static void AssertClose(Tensor expected, Tensor actual, DType dtype, string what, double scale = 1)
    {
        var (atol, rtol) = Tol(dtype);
        Assert.Equal(expected.Shape.ToArray(), actual.Shape.ToArray());
        var e = expected.ToDoubleArray();
        var a = actual.ToDoubleArray();
        for (int i = 0; i < e.Length; i++)
        {
            if (double.IsNaN(e[i]) && double.IsNaN(a[i])) continue;
            if (e[i] == a[i]) continue;
            bool ok = Math.Abs(e[i] - a[i]) <= atol * scale + rtol * Math.Abs(e[i]);
            if (!ok) throw new InvalidOperationException($"{what}: element {i}: reference {e[i]:R}, fast {a[i]:R}");
        }
    }

    private static Gen<DType> FloatType => Gen.Elements(DType.Float32, DType.Float64);

    private static void Run<T>(Gen<T> gen, Func<T, bool> body, int tests = 40) =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(tests), Prop.ForAll(gen.ToArbitrary(), body));

    public static TheoryData<UnaryOp> UnaryOps => new(Enum.GetValues<UnaryOp>());

    [Theory]
    [MemberData(nameof(UnaryOps))]
    public void Unary_primitives_match_the_reference(UnaryOp op)
    {
        bool positive = op is UnaryOp.Log or UnaryOp.Sqrt or UnaryOp.Rsqrt or UnaryOp.Pow or UnaryOp.Reciprocal;
        var gen = from c in TensorGen.Case(0, 4, 9, positive ? 0.1 : -6, positive ? 5 : 6, allowExpanded: true)
                  from t in FloatType
                  from a in Gen.Elements(-1.5, 0.5, 2.0, 3.0)
                  select (c, t, a);
        Run(gen, x =>
        {
            var (c, t, a) = x;
            var input = c.Build(t);
            double pa = op == UnaryOp.Clamp ? -0.5 : a, pb = op == UnaryOp.Clamp ? 1.5 : 0.25;
            var yr = Tensor.Empty(c.Shape, t);
            var yf = Tensor.Empty(c.Shape, t);
            Reference.Unary(op, input, yr, pa, pb);
            Fast.Unary(op, input, yf, pa, pb);
            AssertClose(yr, yf, t, $"{op} a={pa} on {c} {t.Name()}");
            return true;
        });
    }

    public static TheoryData<BinaryOp> BinaryOps => new(Enum.GetValues<BinaryOp>());

    [Theory]
    [MemberData(nameof(BinaryOps))]
    public void Binary_primitives_match_the_reference_with_broadcasting(BinaryOp op)
    {
        var gen = from pair in TensorGen.BroadcastPair(4, 7)
                  from a in TensorGen.Case(pair.A, 0.5, 3)
                  from b in TensorGen.Case(pair.B, op == BinaryOp.Pow ? -2 : 0.5, 3)
                  from t in FloatType
                  select (a, b, t);
        Run(gen, x =>
        {
            var (ca, cb, t) = x;
            var a = ca.Build(t);
            // Comparisons need ties: quantize b for them.
            var b = op is BinaryOp.Equal or BinaryOp.NotEqual or BinaryOp.LessEqual or BinaryOp.GreaterEqual
                ? cb.Build(t).UnaryRaw(UnaryOp.Affine, 2, 0).UnaryRaw(UnaryOp.Clamp, 1, 3)
                : cb.Build(t);
            var shape = ShapeUtil.Broadcast("test", a.Shape, b.Shape);
            var yr = Tensor.Empty(shape, t);
            var yf = Tensor.Empty(shape, t);
            Reference.Binary(op, a.ExpandRaw("t", shape), b.ExpandRaw("t", shape), yr);
            Fast.Binary(op, a.ExpandRaw("t", shape), b.ExpandRaw("t", shape), yf);
            AssertClose(yr, yf, t, $"{op} {ca} ⊕ {cb} {t.Name()}");
            return true;
        });
    }

    [Fact]
    public void Int64_arithmetic_and_comparisons_match_the_reference()
    {
        var a = Tensor.FromArray(new long[] { -3, 0, 7, 12 });
        var b = Tensor.FromArray(new long[] { 2, 5, 7, -4 });
        foreach (var op in new[] { BinaryOp.Add, BinaryOp.Sub, BinaryOp.Mul, BinaryOp.Div, BinaryOp.Maximum, BinaryOp.Minimum, BinaryOp.Equal, BinaryOp.Less, BinaryOp.GreaterEqual })
        {
            var yr = Tensor.Empty([4], DType.Int64);
            var yf = Tensor.Empty([4], DType.Int64);
            Reference.Binary(op, a, b, yr);
            Fast.Binary(op, a, b, yf);
            Assert.Equal(yr.ToLongArray(), yf.ToLongArray());
        }
        Assert.Equal([-1L, 0, 3, 6], Tensor.Div(a, Tensor.FromArray(new long[] { 2, 2, 2, 2 })).ToLongArray());
    }

    [Fact]
    public void Where_matches_the_reference()
    {
        var gen = from pair in TensorGen.BroadcastPair(3, 6)
                  from a in TensorGen.Case(pair.A, allowExpanded: true)
                  from b in TensorGen.Case(pair.B)
                  from c in TensorGen.Case(ShapeUtil.Broadcast("t", pair.A, pair.B))
                  from t in FloatType
                  select (a, b, c, t);
        Run(gen, x =>
        {
            var shape = x.c.Shape;
            var cond = x.c.Build(x.t).GreaterThan(0);
            var a = x.a.Build(x.t).ExpandRaw("t", shape);
            var b = x.b.Build(x.t).ExpandRaw("t", shape);
            var yr = Tensor.Empty(shape, x.t);
            var yf = Tensor.Empty(shape, x.t);
            Reference.Where(cond, a, b, yr);
            Fast.Where(cond, a, b, yf);
            AssertClose(yr, yf, x.t, "where");
            return true;
        });
    }

    public static TheoryData<ReduceOp> ReduceOps => new(Enum.GetValues<ReduceOp>());

    [Theory]
    [MemberData(nameof(ReduceOps))]
    public void Reductions_over_any_dims_match_the_reference(ReduceOp op)
    {
        var gen = from c in TensorGen.Case(1, 4, 40, allowExpanded: true)
                  from mask in Gen.ArrayOf(Gen.Elements(true, false), c.Shape.Length)
                  from t in FloatType
                  let dims = Enumerable.Range(0, c.Shape.Length).Where(i => mask[i]).ToArray()
                  where dims.Length > 0 && ShapeUtil.Numel(c.Shape) <= 20000
                  select (c, dims, t);
        Run(gen, x =>
        {
            var input = x.c.Build(x.t);
            var outShape = ShapeUtil.Reduced(x.c.Shape, x.dims, keepDim: true);
            var yr = Tensor.Empty(outShape, x.t);
            var yf = Tensor.Empty(outShape, x.t);
            Reference.Reduce(op, input, x.dims, yr);
            Fast.Reduce(op, input, x.dims, yf);
            // sums: rounding grows with the number of terms
            double scale = op == ReduceOp.Sum ? Math.Sqrt(ShapeUtil.Numel(x.c.Shape)) * 4 : 1;
            AssertClose(yr, yf, x.t, $"{op} over ({string.Join(",", x.dims)}) of {x.c}", scale);
            return true;
        });
    }

    [Fact]
    public void Arg_reductions_match_the_reference()
    {
        var gen = from c in TensorGen.Case(1, 3, 9, allowExpanded: true)
                  from d in Gen.Choose(0, c.Shape.Length - 1)
                  from t in FloatType
                  from op in Gen.Elements(ArgReduceOp.ArgMax, ArgReduceOp.ArgMin)
                  select (c, d, t, op);
        Run(gen, x =>
        {
            var input = x.c.Build(x.t);
            var outShape = ShapeUtil.Reduced(x.c.Shape, [x.d], keepDim: true);
            var yr = Tensor.Empty(outShape, DType.Int64);
            var yf = Tensor.Empty(outShape, DType.Int64);
            Reference.ArgReduce(x.op, input, x.d, yr);
            Fast.ArgReduce(x.op, input, x.d, yf);
            Assert.Equal(yr.ToLongArray(), yf.ToLongArray());
            return true;
        });
    }

    [Fact]
    public void Matmul_matches_the_reference_for_strided_and_batched_operands()
    {
        var gen = from batch in TensorGen.BroadcastPair(2, 3)
                  from m in Gen.Choose(1, 40)
                  from k in Gen.Choose(1, 40)
                  from n in Gen.Choose(1, 40)
                  from ta in Gen.Elements(true, false)
                  from tb in Gen.Elements(true, false)
                  from sa in TensorGen.Seed()
                  from sb in TensorGen.Seed()
                  from t in FloatType
                  select (batch, m, k, n, ta, tb, sa, sb, t);
        Run(gen, x =>
        {
            var bshape = ShapeUtil.Broadcast("t", x.batch.A, x.batch.B);
            var a = Operand(x.batch.A, x.m, x.k, x.ta, x.sa, x.t).ExpandRaw("t", [.. bshape, x.m, x.k]);
            var b = Operand(x.batch.B, x.k, x.n, x.tb, x.sb, x.t).ExpandRaw("t", [.. bshape, x.k, x.n]);
            var yr = Tensor.Empty([.. bshape, x.m, x.n], x.t);
            var yf = Tensor.Empty([.. bshape, x.m, x.n], x.t);
            Reference.Matmul(a, b, yr);
            Fast.Matmul(a, b, yf);
            AssertClose(yr, yf, x.t, $"matmul {x}", Math.Sqrt(x.k) * 4);
            return true;
        }, 60);
    }

    private static Tensor Operand(int[] batch, int rows, int cols, bool transposed, ulong seed, DType t)
    {
        var gen = new Generator(seed);
        if (!transposed) return Tensor.Rand([.. batch, rows, cols], gen, t, -1, 1);
        return Tensor.Rand([.. batch, cols, rows], gen, t, -1, 1).MT;
    }

    [Fact]
    public void Softmax_and_log_softmax_match_the_reference()
    {
        var gen = from c in TensorGen.Case(1, 3, 70, -20, 20)
                  from log in Gen.Elements(true, false)
                  from t in FloatType
                  where ShapeUtil.Numel(c.Shape) < 30000
                  select (c, log, t);
        Run(gen, x =>
        {
            var input = x.c.Build(x.t);
            var yr = Tensor.Empty(x.c.Shape, x.t);
            var yf = Tensor.Empty(x.c.Shape, x.t);
            Reference.Softmax(input, yr, x.log);
            Fast.Softmax(input, yf, x.log);
            AssertClose(yr, yf, x.t, $"softmax log={x.log} {x.c}", 20);
            return true;
        });
    }

    [Fact]
    public void Index_select_and_index_add_match_the_reference()
    {
        var gen = from c in TensorGen.Case(1, 3, 6)
                  from d in Gen.Choose(0, c.Shape.Length - 1)
                  from count in Gen.Choose(1, 8)
                  from seed in TensorGen.Seed()
                  from t in FloatType
                  select (c, d, count, seed, t);
        Run(gen, x =>
        {
            var input = x.c.Build(x.t);
            var index = Tensor.RandInt([x.count], 0, x.c.Shape[x.d], new Generator(x.seed));
            var shape = x.c.Shape.ToArray();
            shape[x.d] = x.count;
            var yr = Tensor.Empty(shape, x.t);
            var yf = Tensor.Empty(shape, x.t);
            Reference.IndexSelect(input, x.d, index, yr);
            Fast.IndexSelect(input, x.d, index, yf);
            AssertClose(yr, yf, x.t, "index_select");
            var accR = Tensor.Zeros(x.c.Shape, x.t);
            var accF = Tensor.Zeros(x.c.Shape, x.t);
            Reference.IndexAdd(accR, x.d, index, yr);
            Fast.IndexAdd(accF, x.d, index, yr);
            AssertClose(accR, accF, x.t, "index_add");
            return true;
        });
    }

    [Fact]
    public void Gather_scatter_add_triangle_copy_and_fill_match_the_reference()
    {
        var gen = from c in TensorGen.Case(2, 3, 6, allowExpanded: true)
                  from d in Gen.Choose(0, c.Shape.Length - 1)
                  from seed in TensorGen.Seed()
                  from diag in Gen.Choose(-3, 3)
                  from t in FloatType
                  select (c, d, seed, diag, t);
        Run(gen, x =>
        {
            var input = x.c.Build(x.t);
            var index = Tensor.RandInt(x.c.Shape, 0, x.c.Shape[x.d], new Generator(x.seed));
            var gr = Tensor.Empty(x.c.Shape, x.t);
            var gf = Tensor.Empty(x.c.Shape, x.t);
            Reference.Gather(input, x.d, index, gr);
            Fast.Gather(input, x.d, index, gf);
            AssertClose(gr, gf, x.t, "gather");
            var sr = Tensor.Zeros(x.c.Shape, x.t);
            var sf = Tensor.Zeros(x.c.Shape, x.t);
            Reference.ScatterAdd(sr, x.d, index, gr);
            Fast.ScatterAdd(sf, x.d, index, gr);
            AssertClose(sr, sf, x.t, "scatter_add");
            foreach (bool upper in new[] { false, true })
            {
                var tr = Tensor.Empty(x.c.Shape, x.t);
                var tf = Tensor.Empty(x.c.Shape, x.t);
                Reference.Triangle(input, tr, x.diag, upper);
                Fast.Triangle(input, tf, x.diag, upper);
                AssertClose(tr, tf, x.t, $"triangle upper={upper} diag={x.diag}");
            }
            var other = x.t == DType.Float32 ? DType.Float64 : DType.Float32;
            foreach (var target in new[] { x.t, other })
            {
                var cr = Tensor.Empty(x.c.Shape, target);
                var cf = Tensor.Empty(x.c.Shape, target);
                Reference.Copy(input, cr);
                Fast.Copy(input, cf);
                AssertClose(cr, cf, DType.Float32, "copy");
            }
            // Fill into a strided (permuted) view.
            var fr = Tensor.Zeros(x.c.Shape, x.t);
            var ff = Tensor.Zeros(x.c.Shape, x.t);
            Reference.Fill(fr.MT, 0.75);
            Fast.Fill(ff.MT, 0.75);
            AssertClose(fr, ff, x.t, "fill");
            return true;
        });
    }

    [Fact]
    public void Whole_op_graphs_agree_between_backends_forward_and_backward()
    {
        // A small network through the public API, once with each backend.
        (double Loss, double[] Grad) Run(IBackend backend)
        {
            using var _ = CpuBackends.Use(backend);
            var gen = new Generator(11);
            var x = Tensor.RandN([3, 5, 8], gen, DType.Float64).RequireGrad();
            var w = Tensor.RandN([8, 8], gen, DType.Float64, std: 0.3);
            var h = Tensor.Matmul(x, w).Gelu().LayerNorm(null, null, 1e-5).Softmax(-1);
            var loss = (h * h).Sum() + x.Tanh().Mean();
            return (loss.Item(), Autograd.Grad(loss, x).ToDoubleArray());
        }
        var r = Run(Reference);
        var f = Run(Fast);
        Assert.Equal(r.Loss, f.Loss, 12);
        for (int i = 0; i < r.Grad.Length; i++) Assert.Equal(r.Grad[i], f.Grad[i], 12);
    }
}
