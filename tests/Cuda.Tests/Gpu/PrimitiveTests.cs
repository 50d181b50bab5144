using FsCheck;
using FsCheck.Fluent;
using Ttt.Backends;
using Ttt.Cuda.Tests.Support;
using Ttt.Testing;

namespace Ttt.Cuda.Tests.OnGpu;

/// <summary>
/// Every backend primitive on the GPU against the CPU reference backend, on generated shapes, layouts (contiguous,
/// permuted, narrowed, broadcast with stride 0), broadcasts and dtypes. Skipped without a GPU.
/// </summary>
[Collection("Cuda")]
[Trait("Category", "Cuda")]
public sealed class PrimitiveTests
{
    private static readonly IBackend Ref = Ttt.Cpu.CpuBackends.Reference;
    private static readonly Gen<DType> Floats = Gen.Elements(DType.Float32, DType.Float64);
    private static readonly Gen<DType> AllTypes = Gen.Elements(DType.Float32, DType.Float64, DType.Int64);

    private static (double Lo, double Hi) IntRange => (-50, 50);

    private static bool IsIntUnary(UnaryOp op) => op is UnaryOp.Neg or UnaryOp.Abs or UnaryOp.Sign or UnaryOp.Square
        or UnaryOp.Relu or UnaryOp.Affine or UnaryOp.Clamp or UnaryOp.GreaterThanScalar or UnaryOp.LessThanScalar or UnaryOp.EqualScalar;

    /// <summary>Inputs inside each op's domain, and its scalar parameters.</summary>
    private static (double Lo, double Hi, double A, double B) Domain(UnaryOp op, DType dtype)
    {
        if (dtype == DType.Int64) return (-50, 50, op == UnaryOp.Clamp ? -7 : op == UnaryOp.Affine ? 3 : 4, op == UnaryOp.Clamp ? 9 : -2);
        return op switch
        {
            UnaryOp.Log or UnaryOp.Sqrt or UnaryOp.Rsqrt => (0.05, 4, 0, 0),
            UnaryOp.Pow => (0.1, 3, 2.5, 0),
            UnaryOp.Reciprocal => (0.25, 3, 0, 0),
            UnaryOp.Affine => (-3, 3, 1.5, -0.25),
            UnaryOp.Clamp => (-3, 3, -1, 1.25),
            UnaryOp.GreaterThanScalar or UnaryOp.LessThanScalar => (-3, 3, 0.3, 0),
            UnaryOp.EqualScalar => (-3, 3, 1, 0),
            _ => (-3, 3, 0, 0),
        };
    }

    [Fact]
    public void Unary_matches_the_reference()
    {
        Gpu.Require();
        var gen =
            from shape in TensorGen.Shape(0, 4, 5)
            from seed in TensorGen.Seed()
            from view in TensorGen.View(allowExpanded: true)
            from op in Gen.Elements(Enum.GetValues<UnaryOp>())
            from dt in AllTypes
            select (shape, seed, view, op, dt: dt == DType.Int64 && !IsIntUnary(op) ? DType.Float64 : dt);
        Props.ForAll(gen, 200, c =>
        {
            var (lo, hi, a, b) = Domain(c.op, c.dt);
            // EqualScalar needs hits: integral values.
            var (x, xg) = Pair.Of(c.shape, c.seed, c.view, c.op == UnaryOp.EqualScalar && c.dt != DType.Int64 ? DType.Int64 : c.dt, lo, hi);
            if (x.DType != c.dt)
            {
                x = x.To(c.dt);
                xg = xg.To(c.dt);
            }
            var (y, yg) = Pair.Empty(c.shape, c.dt);
            Ref.Unary(c.op, x, y, a, b);
            Gpu.Backend.Unary(c.op, xg, yg, a, b);
            Close.Check(y, yg, $"{c.op} {c.dt.Name()} {ShapeUtil.Format(c.shape)} {c.view} seed {c.seed}");
        });
    }

    [Fact]
    public void Unary_in_place_matches_the_reference()
    {
        Gpu.Require();
        var (x, xg) = Pair.Of([3, 5], 7, ViewKind.Narrowed, DType.Float32);
        Ref.Unary(UnaryOp.Tanh, x, x, 0, 0);
        Gpu.Backend.Unary(UnaryOp.Tanh, xg, xg, 0, 0);
        Close.Check(x, xg, "tanh in place on a narrowed view");
    }

    [Fact]
    public void Int64_rejects_float_only_ops_as_the_reference_does()
    {
        Gpu.Require();
        var x = Tensor.Zeros([3], DType.Int64, Gpu.Device);
        var y = Tensor.Zeros([3], DType.Int64, Gpu.Device);
        Assert.Throws<NotSupportedException>(() => Gpu.Backend.Unary(UnaryOp.Exp, x, y, 0, 0));
        Assert.Throws<NotSupportedException>(() => Gpu.Backend.Binary(BinaryOp.Pow, x, x, y));
    }

    [Fact]
    public void Binary_matches_the_reference_with_broadcasting()
    {
        Gpu.Require();
        var gen =
            from pair in TensorGen.BroadcastPair(4, 5)
            from sa in TensorGen.Seed()
            from sb in TensorGen.Seed()
            from va in TensorGen.View(allowExpanded: true)
            from vb in TensorGen.View(allowExpanded: true)
            from op in Gen.Elements(Enum.GetValues<BinaryOp>())
            from dt in AllTypes
            select (pair.A, pair.B, sa, sb, va, vb, op, dt: dt == DType.Int64 && op == BinaryOp.Pow ? DType.Float32 : dt);
        Props.ForAll(gen, 200, c =>
        {
            var shape = ShapeUtil.Broadcast("test", c.A, c.B);
            bool ints = c.dt == DType.Int64;
            bool compare = c.op is BinaryOp.Equal or BinaryOp.NotEqual or BinaryOp.Less or BinaryOp.LessEqual or BinaryOp.Greater or BinaryOp.GreaterEqual;
            // Comparisons need ties: integral values (converted to the float dtype). Pow: positive base.
            var genType = ints || compare ? DType.Int64 : c.dt;
            var (alo, ahi) = c.op == BinaryOp.Pow ? (0.1, 3.0) : ints ? IntRange : compare ? (-3.0, 3.0) : (-3.0, 3.0);
            var (blo, bhi) = c.op == BinaryOp.Div && ints ? (1.0, 9.0) : c.op == BinaryOp.Pow ? (-2.0, 2.0) : ints ? IntRange : compare ? (-3.0, 3.0) : (-3.0, 3.0);
            var (a, ag) = Pair.Of(c.A, c.sa, c.va, genType, alo, ahi);
            var (b, bg) = Pair.Of(c.B, c.sb, c.vb, genType, blo, bhi);
            (a, ag, b, bg) = (a.To(c.dt), ag.To(c.dt), b.To(c.dt), bg.To(c.dt));
            var (y, yg) = Pair.Empty(shape, c.dt);
            Ref.Binary(c.op, a.Expand(shape), b.Expand(shape), y);
            Gpu.Backend.Binary(c.op, ag.Expand(shape), bg.Expand(shape), yg);
            Close.Check(y, yg, $"{c.op} {c.dt.Name()} {ShapeUtil.Format(c.A)} ∘ {ShapeUtil.Format(c.B)} {c.va}/{c.vb} seeds {c.sa}/{c.sb}");
        });
    }

    [Fact]
    public void Int64_division_by_zero_throws_like_the_reference()
    {
        Gpu.Require();
        var a = Tensor.FromArray(new long[] { 7, -7, 9 }, device: Gpu.Device);
        var b = Tensor.FromArray(new long[] { 2, 2, 0 }, device: Gpu.Device);
        var y = Tensor.Zeros([3], DType.Int64, Gpu.Device);
        Assert.Throws<DivideByZeroException>(() => Gpu.Backend.Binary(BinaryOp.Div, a, b, y));
        var ok = Tensor.FromArray(new long[] { 2, 2, 3 }, device: Gpu.Device);
        Gpu.Backend.Binary(BinaryOp.Div, a, ok, y);
        Assert.Equal([3L, -3L, 3L], y.ToLongArray()); // truncation toward zero
    }

    [Fact]
    public void Maximum_minimum_and_reductions_propagate_nan()
    {
        Gpu.Require();
        foreach (var dt in new[] { DType.Float32, DType.Float64 })
        {
            var x = Tensor.FromArray(new double[] { 1, double.NaN, 3, -1, 2, 5 }, [2, 3]).To(dt);
            var one = Tensor.FromArray(new double[] { 0, 0, 0, 0, 0, 0 }, [2, 3]).To(dt);
            foreach (var op in new[] { BinaryOp.Maximum, BinaryOp.Minimum })
            {
                var y = Tensor.Zeros([2, 3], dt);
                var yg = Tensor.Zeros([2, 3], dt, Gpu.Device);
                Ref.Binary(op, x, one, y);
                Gpu.Backend.Binary(op, x.To(Gpu.Device), one.To(Gpu.Device), yg);
                Close.Check(y, yg, $"{op} with NaN");
            }
            foreach (var op in new[] { ReduceOp.Max, ReduceOp.Min, ReduceOp.Sum })
            {
                var y = Tensor.Zeros([2, 1], dt);
                var yg = Tensor.Zeros([2, 1], dt, Gpu.Device);
                Ref.Reduce(op, x, [1], y);
                Gpu.Backend.Reduce(op, x.To(Gpu.Device), [1], yg);
                Close.Check(y, yg, $"{op} over a row with NaN");
            }
            foreach (var op in new[] { ArgReduceOp.ArgMax, ArgReduceOp.ArgMin })
            {
                var y = Tensor.Zeros([2, 1], DType.Int64);
                var yg = Tensor.Zeros([2, 1], DType.Int64, Gpu.Device);
                Ref.ArgReduce(op, x, 1, y);
                Gpu.Backend.ArgReduce(op, x.To(Gpu.Device), 1, yg);
                Close.Check(y, yg, $"{op} over a row with NaN");
            }
        }
    }

    [Fact]
    public void Where_matches_the_reference()
    {
        Gpu.Require();
        var gen =
            from shape in TensorGen.Shape(0, 4, 5)
            from seeds in Gen.ArrayOf(TensorGen.Seed(), 3)
            from views in Gen.ArrayOf(TensorGen.View(allowExpanded: true), 3)
            from dt in AllTypes
            from intCond in Gen.Elements(false, true)
            select (shape, seeds, views, dt, intCond);
        Props.ForAll(gen, 80, c =>
        {
            var condType = c.intCond ? DType.Int64 : c.dt;
            var (cond, condg) = Pair.Of(c.shape, c.seeds[0], c.views[0], DType.Int64, 0, 3);
            (cond, condg) = (cond.To(condType), condg.To(condType));
            var (lo, hi) = c.dt == DType.Int64 ? IntRange : (-3.0, 3.0);
            var (a, ag) = Pair.Of(c.shape, c.seeds[1], c.views[1], c.dt, lo, hi);
            var (b, bg) = Pair.Of(c.shape, c.seeds[2], c.views[2], c.dt, lo, hi);
            var (y, yg) = Pair.Empty(c.shape, c.dt);
            Ref.Where(cond, a, b, y);
            Gpu.Backend.Where(condg, ag, bg, yg);
            Close.Check(y, yg, $"where {c.dt.Name()} cond {condType.Name()} {ShapeUtil.Format(c.shape)}");
        });
    }

    [Fact]
    public void Copy_converts_dtypes_between_any_layouts()
    {
        Gpu.Require();
        var gen =
            from shape in TensorGen.Shape(0, 4, 5)
            from seed in TensorGen.Seed()
            from srcView in TensorGen.View(allowExpanded: true)
            from dstView in TensorGen.View(allowExpanded: false)
            from src in AllTypes
            from dst in AllTypes
            select (shape, seed, srcView, dstView, src, dst);
        Props.ForAll(gen, 120, c =>
        {
            var (lo, hi) = c.src == DType.Int64 ? IntRange : (-40.0, 40.0);
            var (x, xg) = Pair.Of(c.shape, c.seed, c.srcView, c.src, lo, hi);
            var (y, yg) = Pair.Of(c.shape, c.seed + 1, c.dstView, c.dst, -1, 1);
            Ref.Copy(x, y);
            Gpu.Backend.Copy(xg, yg);
            Close.Check(y, yg, $"copy {c.src.Name()}→{c.dst.Name()} {ShapeUtil.Format(c.shape)} {c.srcView}→{c.dstView}", 0, 0);
        });
    }

    [Fact]
    public void Fill_writes_every_element_of_a_view()
    {
        Gpu.Require();
        var gen =
            from shape in TensorGen.Shape(0, 4, 5)
            from seed in TensorGen.Seed()
            from view in TensorGen.View(allowExpanded: false)
            from dt in AllTypes
            from value in Gen.Elements(0.0, 1.5, -3.0, 7.0)
            select (shape, seed, view, dt, value);
        Props.ForAll(gen, 60, c =>
        {
            var (y, yg) = Pair.Of(c.shape, c.seed, c.view, c.dt);
            Ref.Fill(y, c.value);
            Gpu.Backend.Fill(yg, c.value);
            Close.Check(y, yg, $"fill {c.value} {c.dt.Name()} {c.view}", 0, 0);
        });
    }

    [Fact]
    public void Host_copies_round_trip_at_offsets()
    {
        Gpu.Require();
        var be = Gpu.Backend;
        var s = be.Allocate(DType.Float64, 10, zero: true);
        be.CopyFromHost<double>([1.5, 2.5, 3.5], s, 4);
        var back = new double[10];
        be.CopyToHost<double>(s, 0, back);
        Assert.Equal([0, 0, 0, 0, 1.5, 2.5, 3.5, 0, 0, 0], back);
        var two = new double[2];
        be.CopyToHost<double>(s, 5, two);
        Assert.Equal([2.5, 3.5], two);
        Assert.Throws<ArgumentOutOfRangeException>(() => be.CopyFromHost<double>([1, 2], s, 9));
        Assert.Throws<ArgumentException>(() => be.CopyFromHost<float>([1f], s, 0));
        s.Dispose();
        Assert.Throws<ObjectDisposedException>(() => be.CopyToHost<double>(s, 0, two));
    }

    [Fact]
    public void Reduce_matches_the_reference_over_any_set_of_dims()
    {
        Gpu.Require();
        var gen =
            from shape in TensorGen.Shape(1, 4, 6)
            from mask in Gen.ArrayOf(Gen.Elements(false, true), shape.Length)
            from seed in TensorGen.Seed()
            from view in TensorGen.View(allowExpanded: true)
            from op in Gen.Elements(Enum.GetValues<ReduceOp>())
            from dt in AllTypes
            select (shape, mask, seed, view, op, dt);
        Props.ForAll(gen, 150, c =>
        {
            var dims = Enumerable.Range(0, c.shape.Length).Where(d => c.mask[d]).ToArray();
            if (dims.Length == 0) dims = [c.shape.Length - 1];
            var outShape = c.shape.Select((s, d) => dims.Contains(d) ? 1 : s).ToArray();
            var (lo, hi) = c.dt == DType.Int64 ? IntRange : (-3.0, 3.0);
            var (x, xg) = Pair.Of(c.shape, c.seed, c.view, c.dt, lo, hi);
            var (y, yg) = Pair.Empty(outShape, c.dt);
            Ref.Reduce(c.op, x, dims, y);
            Gpu.Backend.Reduce(c.op, xg, dims, yg);
            Close.Check(y, yg, $"{c.op} {c.dt.Name()} {ShapeUtil.Format(c.shape)} over [{string.Join(",", dims)}] {c.view}");
        });
    }

    [Theory]
    [InlineData(new[] { 3, 3000 }, new[] { 1 })]        // long rows: one block per output
    [InlineData(new[] { 2000, 7 }, new[] { 1 })]        // many short rows: one thread per output
    [InlineData(new[] { 300, 40 }, new[] { 0 })]        // column sums, few outputs: one block per output
    [InlineData(new[] { 64, 300 }, new[] { 0 })]        // column sums, many adjacent outputs: one thread per output
    [InlineData(new[] { 4, 50, 30 }, new[] { 0, 2 })]   // two reduced dims around a kept one
    [InlineData(new[] { 0, 5 }, new[] { 0 })]           // an empty reduction gives the identity
    public void Reduce_schedules_agree(int[] shape, int[] dims)
    {
        Gpu.Require();
        foreach (var dt in new[] { DType.Float32, DType.Float64, DType.Int64 })
            foreach (var op in Enum.GetValues<ReduceOp>())
            {
                if (dt == DType.Int64 && shape.Contains(0) && op != ReduceOp.Sum) continue; // ±∞ has no int64 value
                var outShape = shape.Select((s, d) => dims.Contains(d) ? 1 : s).ToArray();
                var (x, xg) = Pair.Of(shape, 3, ViewKind.Contiguous, dt, dt == DType.Int64 ? -50 : -1, dt == DType.Int64 ? 50 : 1);
                var (y, yg) = Pair.Empty(outShape, dt);
                Ref.Reduce(op, x, dims, y);
                Gpu.Backend.Reduce(op, xg, dims, yg);
                // float32 sums of up to 3000 terms in a different order: rounding grows with √n.
                Close.Check(y, yg, $"{op} {dt.Name()} {ShapeUtil.Format(shape)}", dt == DType.Float32 ? 1e-4 : null, dt == DType.Float32 ? 1e-4 : null);
            }
    }

    [Fact]
    public void ArgReduce_matches_the_reference_including_ties()
    {
        Gpu.Require();
        var gen =
            from shape in TensorGen.Shape(1, 4, 6)
            from dimSeed in Gen.Choose(0, 3)
            from seed in TensorGen.Seed()
            from view in TensorGen.View(allowExpanded: true)
            from op in Gen.Elements(Enum.GetValues<ArgReduceOp>())
            from dt in AllTypes
            select (shape, dim: dimSeed % shape.Length, seed, view, op, dt);
        Props.ForAll(gen, 120, c =>
        {
            // Few distinct values: ties are common and the first index must win.
            var (x, xg) = Pair.Of(c.shape, c.seed, c.view, DType.Int64, -3, 3);
            (x, xg) = (x.To(c.dt), xg.To(c.dt));
            var outShape = c.shape.ToArray();
            outShape[c.dim] = 1;
            var (y, yg) = Pair.Empty(outShape, DType.Int64);
            Ref.ArgReduce(c.op, x, c.dim, y);
            Gpu.Backend.ArgReduce(c.op, xg, c.dim, yg);
            Close.Check(y, yg, $"{c.op} {c.dt.Name()} {ShapeUtil.Format(c.shape)} dim {c.dim} {c.view}");
        });
        // Long rows (the block schedule).
        var (l, lg) = Pair.Of([3, 5000], 11, ViewKind.Contiguous, DType.Int64, -1000, 1000);
        var (ly, lyg) = Pair.Empty([3, 1], DType.Int64);
        Ref.ArgReduce(ArgReduceOp.ArgMax, l.To(DType.Float32), 1, ly);
        Gpu.Backend.ArgReduce(ArgReduceOp.ArgMax, lg.To(DType.Float32), 1, lyg);
        Close.Check(ly, lyg, "argmax over 5000");
    }

    /// <summary>A [..., rows, cols] operand on both devices: contiguous, transposed view, narrowed or broadcast.</summary>
    private static (Tensor Cpu, Tensor Gpu) MatrixOperand(int[] shape, ulong seed, int layout, DType dt)
    {
        switch (layout)
        {
            case 1: // a transposed view: unit row stride
            {
                int[] t = [.. shape[..^2], shape[^1], shape[^2]];
                var (c, g) = Pair.Of(t, seed, ViewKind.Contiguous, dt);
                return (c.Transpose(-1, -2), g.Transpose(-1, -2));
            }
            case 2: return Pair.Of(shape, seed, ViewKind.Narrowed, dt);
            case 3: return Pair.Of(shape, seed, ViewKind.Expanded, dt);
            case 4: return Pair.Of(shape, seed, ViewKind.Permuted, dt);
            default: return Pair.Of(shape, seed, ViewKind.Contiguous, dt);
        }
    }

    [Fact]
    public void Matmul_matches_the_reference_for_batched_broadcast_and_transposed_operands()
    {
        Gpu.Require();
        var gen =
            from batch in Gen.OneOf(Gen.Constant((A: Array.Empty<int>(), B: Array.Empty<int>())), TensorGen.BroadcastPair(2, 3))
            from m in Gen.Choose(1, 6)
            from k in Gen.Choose(1, 6)
            from n in Gen.Choose(1, 6)
            from la in Gen.Choose(0, 4)
            from lb in Gen.Choose(0, 4)
            from sa in TensorGen.Seed()
            from sb in TensorGen.Seed()
            from dt in Floats
            select (batch.A, batch.B, m, k, n, la, lb, sa, sb, dt);
        Props.ForAll(gen, 150, c =>
        {
            var batch = ShapeUtil.Broadcast("test", c.A, c.B);
            var (a, ag) = MatrixOperand([.. c.A, c.m, c.k], c.sa, c.la, c.dt);
            var (b, bg) = MatrixOperand([.. c.B, c.k, c.n], c.sb, c.lb, c.dt);
            int[] outShape = [.. batch, c.m, c.n];
            var (y, yg) = Pair.Empty(outShape, c.dt);
            Ref.Matmul(a.Expand([.. batch, c.m, c.k]), b.Expand([.. batch, c.k, c.n]), y);
            Gpu.Backend.Matmul(ag.Expand([.. batch, c.m, c.k]), bg.Expand([.. batch, c.k, c.n]), yg);
            Close.Check(y, yg, $"matmul {c.dt.Name()} [{string.Join(",", c.A)}|{c.m}x{c.k}] layout {c.la} · [{string.Join(",", c.B)}|{c.k}x{c.n}] layout {c.lb}");
        });
    }

    [Fact]
    public void Matmul_handles_empty_inner_dims_and_linear_layers()
    {
        Gpu.Require();
        // K = 0: zeros.
        var a0 = Tensor.Zeros([3, 0], DType.Float32, Gpu.Device);
        var b0 = Tensor.Zeros([0, 4], DType.Float32, Gpu.Device);
        var c0 = Tensor.Full([3, 4], 5, DType.Float32, Gpu.Device);
        Gpu.Backend.Matmul(a0, b0, c0);
        Assert.All(c0.ToFloatArray(), v => Assert.Equal(0f, v));
        // A linear layer: [B, T, D] · [D, E] with the weight broadcast over the batch (folded into one GEMM).
        var (x, xg) = Pair.Of([3, 5, 8], 1, ViewKind.Contiguous, DType.Float64);
        var (w, wg) = Pair.Of([8, 6], 2, ViewKind.Contiguous, DType.Float64);
        var (y, yg) = Pair.Empty([3, 5, 6], DType.Float64);
        Ref.Matmul(x, w.Expand([3, 8, 6]), y);
        Gpu.Backend.Matmul(xg, wg.Expand([3, 8, 6]), yg);
        Close.Check(y, yg, "linear layer");
        // A weight transposed (x · Wᵀ) and a non-contiguous output.
        var (wt, wtg) = Pair.Of([6, 8], 3, ViewKind.Contiguous, DType.Float32);
        var (x32, x32g) = (x.To(DType.Float32), xg.To(DType.Float32));
        var yw = Tensor.Zeros([3, 6, 5], DType.Float32).Transpose(1, 2);
        var ywg = Tensor.Zeros([3, 6, 5], DType.Float32, Gpu.Device).Transpose(1, 2);
        Ref.Matmul(x32, wt.Transpose(0, 1).Expand([3, 8, 6]), yw);
        Gpu.Backend.Matmul(x32g, wtg.Transpose(0, 1).Expand([3, 8, 6]), ywg);
        Close.Check(yw, ywg, "x·Wᵀ into a transposed output");
    }

    [Theory]
    [InlineData(MatmulPrecision.Tf32, 5e-3)]  // TF32 keeps 10 mantissa bits: ~1e-3 relative per product
    [InlineData(MatmulPrecision.Bf16, 3e-2)]  // bfloat16 keeps 7 bits: ~4e-3 relative per input, grows with √K
    public void Reduced_precision_matmul_is_close(MatmulPrecision precision, double rtol)
    {
        Gpu.Require();
        var be = Gpu.Backend;
        var (a, ag) = Pair.Of([2, 16, 32], 5, ViewKind.Contiguous, DType.Float32, 0.5, 1.5);
        var (b, bg) = Pair.Of([32, 24], 6, ViewKind.Contiguous, DType.Float32, 0.5, 1.5);
        var (y, yg) = Pair.Empty([2, 16, 24], DType.Float32);
        Ref.Matmul(a, b.Expand([2, 32, 24]), y);
        var old = be.MatmulPrecision;
        be.MatmulPrecision = precision;
        try
        {
            be.Matmul(ag, bg.Expand([2, 32, 24]), yg);
        }
        finally
        {
            be.MatmulPrecision = old;
        }
        Close.Check(y, yg, $"matmul {precision}", 1e-3, rtol);
    }

    [Fact]
    public void Softmax_matches_the_reference_over_strided_rows()
    {
        Gpu.Require();
        var gen =
            from shape in TensorGen.Shape(1, 4, 7)
            from seed in TensorGen.Seed()
            from view in TensorGen.View(allowExpanded: true)
            from log in Gen.Elements(false, true)
            from dt in Floats
            select (shape, seed, view, log, dt);
        Props.ForAll(gen, 100, c =>
        {
            var (x, xg) = Pair.Of(c.shape, c.seed, c.view, c.dt, -5, 5);
            var (y, yg) = Pair.Empty(c.shape, c.dt);
            Ref.Softmax(x, y, c.log);
            Gpu.Backend.Softmax(xg, yg, c.log);
            Close.Check(y, yg, $"{(c.log ? "log_softmax" : "softmax")} {c.dt.Name()} {ShapeUtil.Format(c.shape)} {c.view}");
        });
        // Long rows (vocabulary-sized), and a row of −∞ (NaN, as 0/0, like the reference).
        var (l, lg) = Pair.Of([2, 20000], 9, ViewKind.Contiguous, DType.Float32, -8, 8);
        var (ly, lyg) = Pair.Empty([2, 20000], DType.Float32);
        Ref.Softmax(l, ly, true);
        Gpu.Backend.Softmax(lg, lyg, true);
        Close.Check(ly, lyg, "log_softmax over 20000", 1e-4, 1e-4);
        var inf = Tensor.Full([1, 4], double.NegativeInfinity, DType.Float64);
        var (iy, iyg) = Pair.Empty([1, 4], DType.Float64);
        Ref.Softmax(inf, iy, false);
        Gpu.Backend.Softmax(inf.To(Gpu.Device), iyg, false);
        Close.Check(iy, iyg, "softmax of −∞");
    }

    [Fact]
    public void IndexSelect_and_IndexAdd_match_the_reference()
    {
        Gpu.Require();
        var gen =
            from shape in TensorGen.Shape(1, 4, 5)
            from dimSeed in Gen.Choose(0, 3)
            from count in Gen.Choose(0, 7)
            from seed in TensorGen.Seed()
            from view in TensorGen.View(allowExpanded: true)
            from dt in AllTypes
            select (shape, dim: dimSeed % shape.Length, count, seed, view, dt);
        Props.ForAll(gen, 100, c =>
        {
            var (lo, hi) = c.dt == DType.Int64 ? IntRange : (-3.0, 3.0);
            var (index, indexg) = Pair.Indices([c.count], c.shape[c.dim], c.seed);
            var (x, xg) = Pair.Of(c.shape, c.seed + 1, c.view, c.dt, lo, hi);
            var selShape = c.shape.ToArray();
            selShape[c.dim] = c.count;
            var (y, yg) = Pair.Empty(selShape, c.dt);
            Ref.IndexSelect(x, c.dim, index, y);
            Gpu.Backend.IndexSelect(xg, c.dim, indexg, yg);
            Close.Check(y, yg, $"index_select {c.dt.Name()} {ShapeUtil.Format(c.shape)} dim {c.dim} {c.view}", 0, 0);

            var (src, srcg) = Pair.Of(selShape, c.seed + 2, c.view, c.dt, lo, hi);
            var (acc, accg) = Pair.Of(c.shape, c.seed + 3, ViewKind.Contiguous, c.dt, lo, hi);
            Ref.IndexAdd(acc, c.dim, index, src);
            Gpu.Backend.IndexAdd(accg, c.dim, indexg, srcg);
            Close.Check(acc, accg, $"index_add {c.dt.Name()} {ShapeUtil.Format(c.shape)} dim {c.dim} (repeated indices accumulate)");
        });
    }

    [Fact]
    public void Gather_and_ScatterAdd_match_the_reference()
    {
        Gpu.Require();
        var gen =
            from shape in TensorGen.Shape(1, 4, 5)
            from dimSeed in Gen.Choose(0, 3)
            from sizes in Gen.ArrayOf(Gen.Choose(1, 5), 4)
            from seed in TensorGen.Seed()
            from view in TensorGen.View(allowExpanded: true)
            from dt in AllTypes
            select (shape, dim: dimSeed % shape.Length, sizes, seed, view, dt);
        Props.ForAll(gen, 100, c =>
        {
            // index: the rank of x, sizes ≤ x's on the other dims, any size along dim.
            var ishape = c.shape.Select((s, d) => d == c.dim ? c.sizes[d] : Math.Min(s, c.sizes[d])).ToArray();
            var (lo, hi) = c.dt == DType.Int64 ? IntRange : (-3.0, 3.0);
            var (index, indexg) = Pair.Indices(ishape, c.shape[c.dim], c.seed);
            var (x, xg) = Pair.Of(c.shape, c.seed + 1, c.view, c.dt, lo, hi);
            var (y, yg) = Pair.Empty(ishape, c.dt);
            Ref.Gather(x, c.dim, index, y);
            Gpu.Backend.Gather(xg, c.dim, indexg, yg);
            Close.Check(y, yg, $"gather {c.dt.Name()} {ShapeUtil.Format(c.shape)} index {ShapeUtil.Format(ishape)} dim {c.dim} {c.view}", 0, 0);

            var (src, srcg) = Pair.Of(ishape, c.seed + 2, c.view, c.dt, lo, hi);
            var (acc, accg) = Pair.Of(c.shape, c.seed + 3, ViewKind.Contiguous, c.dt, lo, hi);
            Ref.ScatterAdd(acc, c.dim, index, src);
            Gpu.Backend.ScatterAdd(accg, c.dim, indexg, srcg);
            Close.Check(acc, accg, $"scatter_add {c.dt.Name()} {ShapeUtil.Format(c.shape)} index {ShapeUtil.Format(ishape)} dim {c.dim}");
        });
    }

    [Fact]
    public void Triangle_matches_the_reference()
    {
        Gpu.Require();
        var gen =
            from shape in TensorGen.Shape(2, 4, 6)
            from seed in TensorGen.Seed()
            from view in TensorGen.View(allowExpanded: true)
            from diagonal in Gen.Choose(-4, 4)
            from upper in Gen.Elements(false, true)
            from dt in AllTypes
            select (shape, seed, view, diagonal, upper, dt);
        Props.ForAll(gen, 80, c =>
        {
            var (x, xg) = Pair.Of(c.shape, c.seed, c.view, c.dt, c.dt == DType.Int64 ? -50 : -3, c.dt == DType.Int64 ? 50 : 3);
            var (y, yg) = Pair.Empty(c.shape, c.dt);
            Ref.Triangle(x, y, c.diagonal, c.upper);
            Gpu.Backend.Triangle(xg, yg, c.diagonal, c.upper);
            Close.Check(y, yg, $"{(c.upper ? "triu" : "tril")}({c.diagonal}) {ShapeUtil.Format(c.shape)} {c.view}", 0, 0);
        });
    }
}
