using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>1/√x. ∂/∂x = −½·g·y³ (saves the output).</summary>
    public Tensor Rsqrt()
    {
        CheckFloat("rsqrt");
        var y = UnaryRaw(UnaryOp.Rsqrt);
        return ShouldRecord(this) ? y.WithGradFn(new RsqrtBackward(this, y)) : y;
    }

    private sealed class RsqrtBackward : GradNode
    {
        private readonly SavedTensor _y;

        public RsqrtBackward(Tensor x, Tensor y) : base("rsqrt", x) => _y = Save(y);

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var y = _y.Value;
            return [g * (y * y * y) * -0.5];
        }
    }
}
