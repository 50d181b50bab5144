using System.Runtime.Intrinsics;
using Ttt.Cpu;

namespace Ttt.Nn;

/// <summary>
/// Rotary embedding as one CPU op (<see cref="Rope.Apply"/> routes here for float CPU tensors with constant tables):
/// one pass over x instead of the composed path's select, four products, two sums, stack and reshape, and a
/// backward that is the same op with the opposite angle (a rotation's transpose is its inverse), so it is
/// differentiable to any order without a composed fallback. The result is laid out in x's own memory order
/// (x is usually a permuted view [B, H, T, d] of a [B, T, H·d] projection), so the gradient flowing back through
/// the permute and reshape of the projection needs no copy.
/// <para>x [..., P, d], cos and sin [P, d/2] → y [..., P, d]; saved for backward: the tables only.</para>
/// </summary>
internal static class FusedRope
{
    /// <summary>Whether the fused op computes this call (CPU float tensors, tables that need no gradient).</summary>
    public static bool Applies(Tensor x, Tensor cos, Tensor sin) =>
        x.Device.Type == DeviceType.Cpu && x.DType is DType.Float32 or DType.Float64
        && cos.DType == x.DType && sin.DType == x.DType && cos.Device == x.Device && sin.Device == x.Device
        && !cos.RequiresGrad && !sin.RequiresGrad
        && x.Rank >= 2 && cos.Rank == 2 && sin.Rank == 2
        && cos.Shape[0] == x.Shape[^2] && sin.Shape[0] == x.Shape[^2]
        && cos.Shape[1] * 2 == x.Shape[^1] && sin.Shape[1] * 2 == x.Shape[^1];

    /// <summary>y = rotate(x) by the angles of the tables (sign +1) or their negatives (sign −1).</summary>
    /// <param name="x">The input [..., P, d] (any strides).</param>
    /// <param name="cos">Cosines of the angles [P, d/2].</param>
    /// <param name="sin">Sines of the angles [P, d/2].</param>
    /// <param name="sign">+1 rotates by the angles, −1 by their negatives (the inverse rotation).</param>
    /// <param name="order">The memory order of the result, dims from outermost (default: x's own).</param>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin, int sign = 1, int[]? order = null)
    {
        Tensor y;
        var c = cos.Contiguous();
        var s = sin.Contiguous();
        order ??= MemoryOrder(x);
        using (GradMode.Disable())
        {
            y = EmptyInOrder(x, order);
            if (x.DType == DType.Float32) Run<float>(x, c, s, y, sign);
            else Run<double>(x, c, s, y, sign);
        }
        return GradMode.IsEnabled && x.RequiresGrad ? y.AttachGradFn(new RopeNode(x, c, s, sign, order)) : y;
    }

    private sealed class RopeNode : GradNode
    {
        private readonly Tensor _cos, _sin;
        private readonly int _sign;
        private readonly int[] _order;

        // The tables are constants of the op (no gradient), held directly.
        public RopeNode(Tensor x, Tensor cos, Tensor sin, int sign, int[] order) : base("rope", x)
        {
            _cos = cos;
            _sin = sin;
            _sign = sign;
            _order = order;
        }

        // dx = Rᵀ·g = rotate(g, −angle), laid out like x; recorded (as this op) when a gradient of the gradient is wanted.
        protected override Tensor?[] Backward(Tensor grad, bool[] needsGrad) => [Apply(grad, _cos, _sin, -_sign, _order)];
    }

    /// <summary>x's dims from the largest stride to the smallest (ties in dim order).</summary>
    private static int[] MemoryOrder(Tensor x)
    {
        var strides = x.Strides.ToArray();
        return Enumerable.Range(0, x.Rank).OrderByDescending(i => strides[i]).ThenBy(i => i).ToArray();
    }

    /// <summary>An uninitialised dense tensor of x's shape whose dims are laid out in <paramref name="order"/>.</summary>
    private static Tensor EmptyInOrder(Tensor x, int[] order)
    {
        int rank = x.Rank;
        var physical = order.Select(i => x.Shape[i]).ToArray();
        var inverse = new int[rank];
        for (int i = 0; i < rank; i++) inverse[order[i]] = i;
        return Tensor.Empty(physical, x.DType, x.Device).Permute(inverse);
    }

    private static unsafe void Run<T>(Tensor x, Tensor cos, Tensor sin, Tensor y, int sign) where T : unmanaged
    {
        int rank = x.Rank, p = x.Shape[^2], d = x.Shape[^1], half = d / 2;
        long leading = x.Numel / ((long)p * d);
        var xOffsets = new long[leading];
        var yOffsets = new long[leading];
        var index = new int[rank - 2];
        for (long l = 0; l < leading; l++)
        {
            long xo = x.Offset, yo = y.Offset, rest = l;
            for (int dim = rank - 3; dim >= 0; dim--)
            {
                index[dim] = (int)(rest % x.Shape[dim]);
                rest /= x.Shape[dim];
                xo += index[dim] * x.Strides[dim];
                yo += index[dim] * y.Strides[dim];
            }
            xOffsets[l] = xo;
            yOffsets[l] = yo;
        }
        var job = new Job<T>
        {
            X = (T*)((CpuStorage)x.Storage).Pointer, Y = (T*)((CpuStorage)y.Storage).Pointer, Cos = (T*)((CpuStorage)cos.Storage).Pointer + cos.Offset, Sin = (T*)((CpuStorage)sin.Storage).Pointer + sin.Offset,
            XOffsets = xOffsets, YOffsets = yOffsets, P = p, Half = half, Sign = sign,
            XsP = x.Strides[^2], XsD = x.Strides[^1], YsP = y.Strides[^2], YsD = y.Strides[^1],
        };
        CpuParallel.For(leading * p, 64, job.Rows);
        GC.KeepAlive(x);
        GC.KeepAlive(y);
        GC.KeepAlive(cos);
        GC.KeepAlive(sin);
    }

    private sealed unsafe class Job<T> where T : unmanaged
    {
        public T* X, Y, Cos, Sin;
        public long[] XOffsets = [], YOffsets = [];
        public int P, Half, Sign;
        public long XsP, XsD, YsP, YsD;

        public void Rows(long start, long end)
        {
            if (typeof(T) == typeof(float)) RowsOf((float*)X, (float*)Y, (float*)Cos, (float*)Sin, start, end);
            else RowsOf((double*)X, (double*)Y, (double*)Cos, (double*)Sin, start, end);
        }

        // y[2i] = x[2i]·c − s·x[2i+1]·sn, y[2i+1] = s·x[2i]·sn + x[2i+1]·c with sn = sin, s = ±1.
        private void RowsOf(float* x, float* y, float* cos, float* sin, long start, long end)
        {
            float sign = Sign;
            bool vector = Vector512.IsHardwareAccelerated && XsD == 1 && YsD == 1;
            // Eight pairs per register: y = x ⊙ (c0 c0 c1 c1 …) + swap(x) ⊙ (−s0 s0 −s1 s1 …)·sign, where swap
            // exchanges the two elements of each pair.
            var duplicate = Vector512.Create(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
            var swap = Vector512.Create(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
            var signs = Vector512.Create(-sign, sign, -sign, sign, -sign, sign, -sign, sign, -sign, sign, -sign, sign, -sign, sign, -sign, sign);
            for (long row = start; row < end; row++)
            {
                long l = row / P;
                int t = (int)(row % P);
                float* xr = x + XOffsets[l] + t * XsP;
                float* yr = y + YOffsets[l] + t * YsP;
                float* c = cos + (long)t * Half;
                float* s = sin + (long)t * Half;
                int i = 0;
                if (vector)
                    for (; i + 8 <= Half; i += 8)
                    {
                        var xv = Vector512.Load(xr + 2 * i);
                        var cv = Vector512.Shuffle(Vector512.Create(Vector256.Load(c + i), Vector256<float>.Zero), duplicate);
                        var sv = Vector512.Shuffle(Vector512.Create(Vector256.Load(s + i), Vector256<float>.Zero), duplicate) * signs;
                        Vector512.Store(xv * cv + Vector512.Shuffle(xv, swap) * sv, yr + 2 * i);
                    }
                for (; i < Half; i++)
                {
                    float x0 = xr[2 * i * XsD], x1 = xr[(2 * i + 1) * XsD], sn = sign * s[i];
                    yr[2 * i * YsD] = x0 * c[i] - x1 * sn;
                    yr[(2 * i + 1) * YsD] = x0 * sn + x1 * c[i];
                }
            }
        }

        private void RowsOf(double* x, double* y, double* cos, double* sin, long start, long end)
        {
            double sign = Sign;
            for (long row = start; row < end; row++)
            {
                long l = row / P;
                int t = (int)(row % P);
                double* xr = x + XOffsets[l] + t * XsP;
                double* yr = y + YOffsets[l] + t * YsP;
                double* c = cos + (long)t * Half;
                double* s = sin + (long)t * Half;
                for (int i = 0; i < Half; i++)
                {
                    double x0 = xr[2 * i * XsD], x1 = xr[(2 * i + 1) * XsD], sn = sign * s[i];
                    yr[2 * i * YsD] = x0 * c[i] - x1 * sn;
                    yr[(2 * i + 1) * YsD] = x0 * sn + x1 * c[i];
                }
            }
        }
    }
}
