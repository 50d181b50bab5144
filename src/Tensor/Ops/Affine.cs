using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>scale·x + shift element-wise (scalar add/sub/mul/div and negation). ∂/∂x = scale·g.</summary>
    public Tensor Affine(double scale, double shift)
    {
        var y = UnaryRaw(UnaryOp.Affine, scale, shift);
        return ShouldRecord(this) ? y.WithGradFn(new AffineBackward(this, scale)) : y;
    }

    /// <summary>−x.</summary>
    public Tensor Neg() => Affine(-1, 0);

    /// <summary>−x.</summary>
    public static Tensor operator -(Tensor x) => x.Neg();

    private sealed class AffineBackward(Tensor x, double scale) : GradNode(scale == -1 ? "neg" : "affine", x)
    {
        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [scale == 1 ? g : g.Affine(scale, 0)];
    }
}
