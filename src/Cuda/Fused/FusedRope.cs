using Ttt.Cuda.Kernels;
using static Ttt.Cuda.Fused.FusedCommon;

namespace Ttt.Cuda.Fused;

/// <summary>
/// Rotary position embedding with interleaved pairs (ptx/rope.cu). The last dim d (even) holds d/2 pairs
/// (x[2i], x[2i+1]); pair i at position p turns by p·θ^(−2i/d). The time dim is any dim before the last:
/// [B, T, H, d] uses timeDim 1, [B, H, T, d] timeDim 2.
/// </summary>
internal static class FusedRope
{
    /// <summary>
    /// Rotates <paramref name="x"/>; positions are 0…T−1, or the int64 <paramref name="positions"/> [T] when given.
    /// <paramref name="inverse"/> turns the other way, which is also the backward (dx = rope⁻¹(dy)).
    /// </summary>
    public static Tensor Apply(Tensor x, int timeDim, double theta = 10000, Tensor? positions = null, bool inverse = false)
    {
        const string Op = "fused_rope";
        ArgumentNullException.ThrowIfNull(x);
        Float(Op, x);
        var be = Backend(Op, x);
        if (x.Rank < 2) throw new ArgumentException($"{Op}: expected at least [T, d], got {ShapeUtil.Format(x.Shape)}");
        int t = ShapeUtil.NormalizeDim(Op, timeDim, x.Rank, x.Shape);
        if (t == x.Rank - 1) throw new ArgumentException($"{Op}: the time dim cannot be the last (pair) dim");
        long d = x.Shape[^1];
        if (d % 2 != 0) throw new ArgumentException($"{Op}: the last dim must be even (pairs), got {d}");
        long time = x.Shape[t];
        if (positions is not null)
        {
            Same(Op, "positions", positions, be, DType.Int64);
            Vector(Op, "positions", positions, time);
        }
        long timeStride = 1;
        for (int k = t + 1; k < x.Rank; k++) timeStride *= x.Shape[k];
        var xd = Dense(x);
        var y = Tensor.Empty(x.Shape, x.DType, x.Device);
        long pairs = x.Numel / 2;
        if (pairs == 0) return y;
        Launch(be, KernelCatalog.Rope[x.DType], be.ElementwiseGrid(pairs), 1, CudaBackend.StandardBlock,
            be.FirstElement(xd, Op), be.FirstElement(y, Op), pairs, d, time, timeStride,
            be.FirstOrNull(positions is null ? null : Dense(positions), Op), theta, inverse ? 1 : 0);
        return y;
    }
}
