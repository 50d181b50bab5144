namespace Ttt.Nn;

/// <summary>
/// Rotary position embedding with interleaved pairs (the JAX/EasyLM convention the official TTT checkpoints use):
/// for i in [0, d/2), the pair (x[2i], x[2i+1]) is rotated by the angle p·θ^(−2i/d). Tables are computed in double
/// precision and cast to the tensor's dtype.
/// </summary>
public static class Rope
{
    /// <summary>cos and sin tables [P, d/2] for the given integer positions.</summary>
    public static (Tensor Cos, Tensor Sin) Tables(ReadOnlySpan<long> positions, int headDim, double theta, DType dtype, Device? device = null)
    {
        if (headDim % 2 != 0) throw new ArgumentException($"rope: head dim {headDim} must be even");
        int half = headDim / 2;
        var cos = new double[positions.Length * half];
        var sin = new double[positions.Length * half];
        for (int p = 0; p < positions.Length; p++)
            for (int i = 0; i < half; i++)
            {
                double angle = positions[p] * Math.Pow(theta, -2.0 * i / headDim);
                cos[p * half + i] = Math.Cos(angle);
                sin[p * half + i] = Math.Sin(angle);
            }
        return (Tensor.FromArray(cos, [positions.Length, half], device).To(dtype), Tensor.FromArray(sin, [positions.Length, half], device).To(dtype));
    }

    /// <summary>
    /// Rotates x [..., P, d] (P positions, last dim the head dim) with tables [P, d/2].
    /// Differentiable in x: y0 = x0·cos − x1·sin, y1 = x0·sin + x1·cos. CPU float tensors take the fused op
    /// (FusedRope.cs); everything else, and tables that require grad, the composed path.
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(cos);
        ArgumentNullException.ThrowIfNull(sin);
        return FusedRope.Applies(x, cos, sin) ? FusedRope.Apply(x, cos, sin) : ApplyComposed(x, cos, sin);
    }

    /// <summary>The composed path of <see cref="Apply"/> from differentiable primitives: the oracle of the fused op.</summary>
    internal static Tensor ApplyComposed(Tensor x, Tensor cos, Tensor sin)
    {
        ArgumentNullException.ThrowIfNull(x);
        int d = x.Shape[^1];
        var pairs = x.Reshape([.. x.Shape[..^1], d / 2, 2]);
        var x0 = pairs.Select(-1, 0);
        var x1 = pairs.Select(-1, 1);
        var y0 = x0 * cos - x1 * sin;
        var y1 = x0 * sin + x1 * cos;
        return Tensor.Stack([y0, y1], -1).Reshape(x.ShapeArray());
    }
}
