using Ttt.Backends;

namespace Ttt;

/// <summary>
/// Comparisons. Results hold 1 where the relation holds and 0 elsewhere, in the inputs' dtype (usable directly as
/// masks), and are constants for autograd: a comparison has zero derivative almost everywhere.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>[a == b] with broadcasting.</summary>
    public static Tensor Equal(Tensor a, Tensor b) => BinaryRaw("eq", BinaryOp.Equal, a, b);

    /// <summary>[a ≠ b] with broadcasting.</summary>
    public static Tensor NotEqual(Tensor a, Tensor b) => BinaryRaw("ne", BinaryOp.NotEqual, a, b);

    /// <summary>[a &lt; b] with broadcasting.</summary>
    public static Tensor Less(Tensor a, Tensor b) => BinaryRaw("lt", BinaryOp.Less, a, b);

    /// <summary>[a ≤ b] with broadcasting.</summary>
    public static Tensor LessEqual(Tensor a, Tensor b) => BinaryRaw("le", BinaryOp.LessEqual, a, b);

    /// <summary>[a &gt; b] with broadcasting.</summary>
    public static Tensor Greater(Tensor a, Tensor b) => BinaryRaw("gt", BinaryOp.Greater, a, b);

    /// <summary>[a ≥ b] with broadcasting.</summary>
    public static Tensor GreaterEqual(Tensor a, Tensor b) => BinaryRaw("ge", BinaryOp.GreaterEqual, a, b);

    /// <summary>[x &gt; s].</summary>
    public Tensor GreaterThan(double s) => UnaryRaw(UnaryOp.GreaterThanScalar, s);

    /// <summary>[x &lt; s].</summary>
    public Tensor LessThan(double s) => UnaryRaw(UnaryOp.LessThanScalar, s);

    /// <summary>[x == s].</summary>
    public Tensor EqualTo(double s) => UnaryRaw(UnaryOp.EqualScalar, s);

    /// <summary>[x ≠ s].</summary>
    public Tensor NotEqualTo(double s) => EqualTo(s).Detach().UnaryRaw(UnaryOp.Affine, -1, 1);

    /// <summary>True when every element of a equals the one of b (same shape required).</summary>
    public static bool AllEqual(Tensor a, Tensor b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (!ShapeUtil.SameShape(a.Shape, b.Shape) || a.DType != b.DType) return false;
        if (a.Numel == 0) return true;
        var differing = NotEqual(a, b).ReduceRaw(ReduceOp.Sum, ShapeUtil.NormalizeDims("all_equal", null, a.Shape), false);
        return differing.Item() == 0;
    }
}
