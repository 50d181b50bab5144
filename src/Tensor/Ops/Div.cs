using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>a / b with broadcasting. ∂/∂a = g / b, ∂/∂b = −g·a / b².</summary>
    public static Tensor Div(Tensor a, Tensor b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var y = BinaryRaw("div", BinaryOp.Div, a, b);
        return ShouldRecord(a, b) ? y.WithGradFn(new DivBackward(a, b)) : y;
    }

    /// <summary>a / b with broadcasting.</summary>
    public static Tensor operator /(Tensor a, Tensor b) => Div(a, b);

    /// <summary>x / s.</summary>
    public static Tensor operator /(Tensor x, double s) => x.Affine(1 / s, 0);

    /// <summary>s / x.</summary>
    public static Tensor operator /(double s, Tensor x) => x.Reciprocal() * s;

    private sealed class DivBackward : GradNode
    {
        private readonly int[] _aShape, _bShape;
        private readonly SavedTensor? _a;
        private readonly SavedTensor _b;

        public DivBackward(Tensor a, Tensor b) : base("div", a, b)
        {
            _aShape = a.ShapeArray();
            _bShape = b.ShapeArray();
            if (b.RequiresGrad) _a = Save(a);
            _b = Save(b);
        }

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var b = _b.Value;
            return [needs[0] ? (g / b).SumTo(_aShape) : null, needs[1] ? (-(g * _a!.Value) / (b * b)).SumTo(_bShape) : null];
        }
    }
}
