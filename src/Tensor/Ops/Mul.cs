using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>a ⊙ b with broadcasting. ∂/∂a = g ⊙ b, ∂/∂b = g ⊙ a. Saves a and b (those whose partner needs grad).</summary>
    public static Tensor Mul(Tensor a, Tensor b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var y = BinaryRaw("mul", BinaryOp.Mul, a, b);
        return ShouldRecord(a, b) ? y.WithGradFn(new MulBackward(a, b)) : y;
    }

    /// <summary>a ⊙ b with broadcasting.</summary>
    public static Tensor operator *(Tensor a, Tensor b) => Mul(a, b);

    /// <summary>x · s.</summary>
    public static Tensor operator *(Tensor x, double s) => x.Affine(s, 0);

    /// <summary>s · x.</summary>
    public static Tensor operator *(double s, Tensor x) => x.Affine(s, 0);

    private sealed class MulBackward : GradNode
    {
        private readonly int[] _aShape, _bShape;
        private readonly SavedTensor? _a, _b;

        public MulBackward(Tensor a, Tensor b) : base("mul", a, b)
        {
            _aShape = a.ShapeArray();
            _bShape = b.ShapeArray();
            if (b.RequiresGrad) _a = Save(a);
            if (a.RequiresGrad) _b = Save(b);
        }

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) =>
            [needs[0] ? (g * _b!.Value).SumTo(_aShape) : null, needs[1] ? (g * _a!.Value).SumTo(_bShape) : null];
    }
}
