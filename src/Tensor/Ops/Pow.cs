using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>xᵖ for a scalar exponent. ∂/∂x = g·p·xᵖ⁻¹.</summary>
    public Tensor Pow(double p)
    {
        CheckFloat("pow");
        if (p == 1) return ShouldRecord(this) ? Affine(1, 0) : this;
        var y = UnaryRaw(UnaryOp.Pow, p);
        return ShouldRecord(this) ? y.WithGradFn(new PowBackward(this, p)) : y;
    }

    /// <summary>x² (= Pow(2)).</summary>
    public Tensor Square() => Pow(2);

    private sealed class PowBackward : GradNode
    {
        private readonly SavedTensor _x;
        private readonly double _p;

        public PowBackward(Tensor x, double p) : base("pow", x)
        {
            _x = Save(x);
            _p = p;
        }

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) =>
            [_p == 2 ? g * _x.Value * 2 : g * _x.Value.Pow(_p - 1) * _p];
    }
}
