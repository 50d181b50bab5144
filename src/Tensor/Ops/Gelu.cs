using Ttt.Backends;
using Ttt.Cpu;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// GELU, tanh approximation: ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³), with the exact √(2/π).
    /// ∂/∂x = ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²), t = tanh u, composed from differentiable ops.
    /// </summary>
    public Tensor Gelu()
    {
        CheckFloat("gelu");
        var y = UnaryRaw(UnaryOp.Gelu);
        return ShouldRecord(this) ? y.WithGradFn(new GeluBackward(this)) : y;
    }

    /// <summary>The derivative of <see cref="Gelu"/> (exact constants), as a differentiable expression.</summary>
    public Tensor GeluDerivative()
    {
        const double c = ScalarMath.SqrtTwoOverPi, k = 0.044715;
        var x2 = this * this;
        var t = ((x2 * k + 1) * this * c).Tanh();
        return (t + 1) * 0.5 + this * (1 - t * t) * (x2 * (3 * k) + 1) * (0.5 * c);
    }

    private sealed class GeluBackward : GradNode
    {
        private readonly SavedTensor _x;

        public GeluBackward(Tensor x) : base("gelu", x) => _x = Save(x);

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g * _x.Value.GeluDerivative()];
    }
}
