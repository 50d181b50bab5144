using Ttt.Backends;

namespace Ttt.Cpu;

/// <summary>
/// The plain-loop CPU implementation of every primitive: one element at a time, arithmetic in double precision,
/// no SIMD, no threads. It is the oracle that the fast path and the CUDA kernels are tested against; keep it
/// simple and never optimise it.
/// </summary>
public sealed class CpuReferenceBackend : IBackend
{
    /// <summary>The single instance.</summary>
    public static readonly CpuReferenceBackend Instance = new();

    private CpuReferenceBackend() { }

    /// <inheritdoc/>
    public Device Device => Device.Cpu;

    /// <inheritdoc/>
    public string Name => "cpu-reference";

    /// <inheritdoc/>
    public Storage Allocate(DType dtype, long length, bool zero) => CpuStorage.Allocate(dtype, length, zero);

    /// <inheritdoc/>
    public void CopyFromHost<T>(ReadOnlySpan<T> src, Storage dst, long dstOffset) where T : unmanaged =>
        src.CopyTo(((CpuStorage)dst).Span<T>()[(int)dstOffset..]);

    /// <inheritdoc/>
    public void CopyToHost<T>(Storage src, long srcOffset, Span<T> dst) where T : unmanaged =>
        ((CpuStorage)src).Span<T>().Slice((int)srcOffset, dst.Length).CopyTo(dst);

    /// <inheritdoc/>
    public void Copy(Tensor src, Tensor dst)
    {
        var s = src.Cpu();
        var d = dst.Cpu();
        long n = dst.Numel;
        bool ints = src.DType == DType.Int64 && dst.DType == DType.Int64;
        for (long i = 0; i < n; i++)
        {
            long so = Strided.OffsetOf(src, i), dO = Strided.OffsetOf(dst, i);
            if (ints) Strided.SetLong(d, dO, Strided.GetLong(s, so));
            else if (dst.DType == DType.Int64) Strided.SetLong(d, dO, (long)Strided.Get(s, so));
            else Strided.Set(d, dO, Strided.Get(s, so));
        }
    }

    /// <inheritdoc/>
    public void Fill(Tensor dst, double value)
    {
        var d = dst.Cpu();
        long n = dst.Numel;
        for (long i = 0; i < n; i++) Strided.Set(d, Strided.OffsetOf(dst, i), value);
    }

    /// <inheritdoc/>
    public void Unary(UnaryOp op, Tensor x, Tensor y, double a, double b)
    {
        var xs = x.Cpu();
        var ys = y.Cpu();
        long n = y.Numel;
        for (long i = 0; i < n; i++)
        {
            long xo = Strided.OffsetOf(x, i), yo = Strided.OffsetOf(y, i);
            if (x.DType == DType.Int64) Strided.SetLong(ys, yo, ScalarMath.UnaryInt(op, Strided.GetLong(xs, xo), a, b));
            else Strided.Set(ys, yo, ScalarMath.Unary(op, Strided.Get(xs, xo), a, b));
        }
    }

    /// <inheritdoc/>
    public void Binary(BinaryOp op, Tensor a, Tensor b, Tensor y)
    {
        var sa = a.Cpu();
        var sb = b.Cpu();
        var sy = y.Cpu();
        long n = y.Numel;
        for (long i = 0; i < n; i++)
        {
            long ao = Strided.OffsetOf(a, i), bo = Strided.OffsetOf(b, i), yo = Strided.OffsetOf(y, i);
            if (a.DType == DType.Int64) Strided.SetLong(sy, yo, ScalarMath.BinaryInt(op, Strided.GetLong(sa, ao), Strided.GetLong(sb, bo)));
            else Strided.Set(sy, yo, ScalarMath.Binary(op, Strided.Get(sa, ao), Strided.Get(sb, bo)));
        }
    }

    /// <inheritdoc/>
    public void Where(Tensor cond, Tensor a, Tensor b, Tensor y)
    {
        var sc = cond.Cpu();
        var sa = a.Cpu();
        var sb = b.Cpu();
        var sy = y.Cpu();
        long n = y.Numel;
        bool ints = y.DType == DType.Int64;
        for (long i = 0; i < n; i++)
        {
            bool c = Strided.Get(sc, Strided.OffsetOf(cond, i)) != 0;
            var src = c ? a : b;
            var ss = c ? sa : sb;
            long so = Strided.OffsetOf(src, i), yo = Strided.OffsetOf(y, i);
            if (ints) Strided.SetLong(sy, yo, Strided.GetLong(ss, so));
            else Strided.Set(sy, yo, Strided.Get(ss, so));
        }
    }

    /// <inheritdoc/>
    public void Reduce(ReduceOp op, Tensor x, ReadOnlySpan<int> dims, Tensor y)
    {
        var sx = x.Cpu();
        var sy = y.Cpu();
        int rank = x.Rank;
        var xShape = x.ShapeRef;
        // Sub-shape iterated for each output element: the reduced dims.
        var rdims = dims.ToArray();
        var rshape = rdims.Select(d => xShape[d]).ToArray();
        long rcount = ShapeUtil.Numel(rshape);
        var ycoords = new int[rank];
        var rcoords = new int[rdims.Length];
        var xcoords = new int[rank];
        long n = y.Numel;
        for (long i = 0; i < n; i++)
        {
            Strided.Unravel(y.ShapeRef, i, ycoords);
            double acc = op switch { ReduceOp.Sum => 0, ReduceOp.Max => double.NegativeInfinity, _ => double.PositiveInfinity };
            for (long r = 0; r < rcount; r++)
            {
                Strided.Unravel(rshape, r, rcoords);
                ycoords.CopyTo(xcoords, 0);
                for (int k = 0; k < rdims.Length; k++) xcoords[rdims[k]] = rcoords[k];
                double v = Strided.Get(sx, Strided.OffsetOf(x, xcoords));
                acc = op switch
                {
                    ReduceOp.Sum => acc + v,
                    ReduceOp.Max => double.IsNaN(v) || v > acc ? v : acc,
                    _ => double.IsNaN(v) || v < acc ? v : acc,
                };
                if (op != ReduceOp.Sum && double.IsNaN(acc)) break;
            }
            Strided.Set(sy, Strided.OffsetOf(y, ycoords), acc);
        }
    }

    /// <inheritdoc/>
    public void ArgReduce(ArgReduceOp op, Tensor x, int dim, Tensor y)
    {
        var sx = x.Cpu();
        var sy = y.Cpu();
        var coords = new int[x.Rank];
        long n = y.Numel;
        int len = x.ShapeRef[dim];
        for (long i = 0; i < n; i++)
        {
            Strided.Unravel(y.ShapeRef, i, coords);
            long best = 0;
            double bestV = double.NaN;
            for (int j = 0; j < len; j++)
            {
                coords[dim] = j;
                double v = Strided.Get(sx, Strided.OffsetOf(x, coords));
                bool better = j == 0 || (op == ArgReduceOp.ArgMax ? v > bestV : v < bestV) || (double.IsNaN(v) && !double.IsNaN(bestV));
                if (better)
                {
                    best = j;
                    bestV = v;
                }
            }
            coords[dim] = 0;
            Strided.SetLong(sy, Strided.OffsetOf(y, coords), best);
        }
    }

    /// <inheritdoc/>
    public void Matmul(Tensor a, Tensor b, Tensor c)
    {
        var sa = a.Cpu();
        var sb = b.Cpu();
        var sc = c.Cpu();
        int rank = c.Rank;
        int m = c.ShapeRef[rank - 2], n = c.ShapeRef[rank - 1], k = a.ShapeRef[rank - 1];
        long batch = c.Numel / Math.Max(1L * m * n, 1);
        if (m == 0 || n == 0) return;
        var bshape = c.ShapeRef[..(rank - 2)];
        var bc = new int[rank - 2];
        for (long bi = 0; bi < batch; bi++)
        {
            Strided.Unravel(bshape, bi, bc);
            long ao = a.Offset, bo = b.Offset, co = c.Offset;
            for (int d = 0; d < bc.Length; d++)
            {
                ao += bc[d] * a.StridesRef[d];
                bo += bc[d] * b.StridesRef[d];
                co += bc[d] * c.StridesRef[d];
            }
            long am = a.StridesRef[rank - 2], ak = a.StridesRef[rank - 1];
            long bk = b.StridesRef[rank - 2], bn = b.StridesRef[rank - 1];
            long cm = c.StridesRef[rank - 2], cn = c.StridesRef[rank - 1];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double acc = 0;
                    for (int p = 0; p < k; p++)
                        acc += Strided.Get(sa, ao + i * am + p * ak) * Strided.Get(sb, bo + p * bk + j * bn);
                    Strided.Set(sc, co + i * cm + j * cn, acc);
                }
        }
    }

    /// <inheritdoc/>
    public void Softmax(Tensor x, Tensor y, bool log)
    {
        var sx = x.Cpu();
        var sy = y.Cpu();
        int len = x.ShapeRef[^1];
        long rows = len == 0 ? 0 : x.Numel / len;
        var buf = new double[len];
        for (long r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity;
            for (int j = 0; j < len; j++)
            {
                buf[j] = Strided.Get(sx, Strided.OffsetOf(x, r * len + j));
                if (buf[j] > max || double.IsNaN(buf[j])) max = buf[j];
            }
            if (double.IsNegativeInfinity(max)) max = 0; // a row of -inf: keep NaN-free exp(−inf)=0 → 0/0 below as in IEEE
            double sum = 0;
            for (int j = 0; j < len; j++) sum += Math.Exp(buf[j] - max);
            double logSum = Math.Log(sum);
            for (int j = 0; j < len; j++)
            {
                double v = log ? buf[j] - max - logSum : Math.Exp(buf[j] - max) / sum;
                Strided.Set(sy, Strided.OffsetOf(y, r * len + j), v);
            }
        }
    }

    /// <inheritdoc/>
    public void IndexSelect(Tensor x, int dim, Tensor index, Tensor y)
    {
        var sx = x.Cpu();
        var si = index.Cpu();
        var sy = y.Cpu();
        var coords = new int[y.Rank];
        bool ints = x.DType == DType.Int64;
        for (long i = 0; i < y.Numel; i++)
        {
            Strided.Unravel(y.ShapeRef, i, coords);
            long yo = Strided.OffsetOf(y, coords);
            coords[dim] = (int)Strided.GetLong(si, Strided.OffsetOf(index, coords[dim]));
            long xo = Strided.OffsetOf(x, coords);
            if (ints) Strided.SetLong(sy, yo, Strided.GetLong(sx, xo));
            else Strided.Set(sy, yo, Strided.Get(sx, xo));
        }
    }

    /// <inheritdoc/>
    public void IndexAdd(Tensor y, int dim, Tensor index, Tensor src)
    {
        var ss = src.Cpu();
        var si = index.Cpu();
        var sy = y.Cpu();
        var coords = new int[src.Rank];
        for (long i = 0; i < src.Numel; i++)
        {
            Strided.Unravel(src.ShapeRef, i, coords);
            double v = Strided.Get(ss, Strided.OffsetOf(src, coords));
            coords[dim] = (int)Strided.GetLong(si, Strided.OffsetOf(index, coords[dim]));
            long yo = Strided.OffsetOf(y, coords);
            Strided.Set(sy, yo, Strided.Get(sy, yo) + v);
        }
    }

    /// <inheritdoc/>
    public void Gather(Tensor x, int dim, Tensor index, Tensor y)
    {
        var sx = x.Cpu();
        var si = index.Cpu();
        var sy = y.Cpu();
        var coords = new int[y.Rank];
        for (long i = 0; i < y.Numel; i++)
        {
            Strided.Unravel(y.ShapeRef, i, coords);
            long yo = Strided.OffsetOf(y, coords);
            coords[dim] = (int)Strided.GetLong(si, Strided.OffsetOf(index, coords));
            Strided.Set(sy, yo, Strided.Get(sx, Strided.OffsetOf(x, coords)));
        }
    }

    /// <inheritdoc/>
    public void ScatterAdd(Tensor y, int dim, Tensor index, Tensor src)
    {
        var ss = src.Cpu();
        var si = index.Cpu();
        var sy = y.Cpu();
        var coords = new int[src.Rank];
        for (long i = 0; i < src.Numel; i++)
        {
            Strided.Unravel(src.ShapeRef, i, coords);
            double v = Strided.Get(ss, Strided.OffsetOf(src, coords));
            coords[dim] = (int)Strided.GetLong(si, Strided.OffsetOf(index, coords));
            long yo = Strided.OffsetOf(y, coords);
            Strided.Set(sy, yo, Strided.Get(sy, yo) + v);
        }
    }

    /// <inheritdoc/>
    public void Triangle(Tensor x, Tensor y, int diagonal, bool upper)
    {
        var sx = x.Cpu();
        var sy = y.Cpu();
        var coords = new int[y.Rank];
        for (long i = 0; i < y.Numel; i++)
        {
            Strided.Unravel(y.ShapeRef, i, coords);
            int r = coords[^2], c = coords[^1];
            bool keep = upper ? c - r >= diagonal : c - r <= diagonal;
            Strided.Set(sy, Strided.OffsetOf(y, coords), keep ? Strided.Get(sx, Strided.OffsetOf(x, coords)) : 0);
        }
    }
}
