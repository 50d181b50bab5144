using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>1/x. ∂/∂x = −g·y² (saves the output).</summary>
    public Tensor Reciprocal()
    {
        CheckFloat("reciprocal");
        var y = UnaryRaw(UnaryOp.Reciprocal);
        return ShouldRecord(this) ? y.WithGradFn(new ReciprocalBackward(this, y)) : y;
    }

    private sealed class ReciprocalBackward : GradNode
    {
        private readonly SavedTensor _y;

        public ReciprocalBackward(Tensor x, Tensor y) : base("reciprocal", x) => _y = Save(y);

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var y = _y.Value;
            return [-(g * y * y)];
        }
    }
}
