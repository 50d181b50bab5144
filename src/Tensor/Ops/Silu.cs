using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>SiLU x·σ(x). ∂/∂x = g ⊙ σ(x)·(1 + x·(1 − σ(x))), composed from differentiable ops.</summary>
    public Tensor Silu()
    {
        CheckFloat("silu");
        var y = UnaryRaw(UnaryOp.Silu);
        return ShouldRecord(this) ? y.WithGradFn(new SiluBackward(this)) : y;
    }

    private sealed class SiluBackward : GradNode
    {
        private readonly SavedTensor _x;

        public SiluBackward(Tensor x) : base("silu", x) => _x = Save(x);

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var x = _x.Value;
            var s = x.Sigmoid();
            return [g * s * (1 + x * (1 - s))];
        }
    }
}
