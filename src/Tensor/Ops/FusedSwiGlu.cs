using Ttt.Cpu.Fast;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// The SwiGLU gate silu(<paramref name="gate"/>)·<paramref name="up"/> (same shapes) as one fused CPU op
    /// (float32/float64 on the CPU; elsewhere the composed <c>gate.Silu() * up</c>). The first-order backward is
    /// one fused pass; with grad mode on in backward (createGraph) the gradients are built from differentiable ops.
    /// </summary>
    public static Tensor FusedSwiGlu(Tensor gate, Tensor up)
    {
        ArgumentNullException.ThrowIfNull(gate);
        ArgumentNullException.ThrowIfNull(up);
        gate.CheckFloat("swiglu");
        gate.CheckCompatible("swiglu", up);
        if (!ShapeUtil.SameShape(gate._shape, up._shape))
            throw new ArgumentException($"swiglu: gate {ShapeUtil.Format(gate._shape)} and up {ShapeUtil.Format(up._shape)} must have the same shape");
        if (gate.Device.Type != DeviceType.Cpu) return gate.Silu() * up;
        var a = gate.Contiguous();
        var b = up.Contiguous();
        var y = Empty(gate._shape, gate.DType, gate.Device);
        if (gate.DType == DType.Float32) SwiGluKernel.Forward<float>(a, b, y);
        else SwiGluKernel.Forward<double>(a, b, y);
        return ShouldRecord(gate, up) ? y.WithGradFn(new FusedSwiGluBackward(gate, up, a, b)) : y;
    }

    private sealed class FusedSwiGluBackward : GradNode
    {
        private readonly SavedTensor _a, _b;

        public FusedSwiGluBackward(Tensor gate, Tensor up, Tensor a, Tensor b) : base("swiglu", gate, up)
        {
            _a = Save(a);
            _b = Save(b);
        }

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var a = _a.Value;
            var b = _b.Value;
            if (GradMode.IsEnabled)
            {
                // da = g·b·σ(a)·(1 + a·(1 − σ(a))), db = g·silu(a), in differentiable ops.
                var s = a.Sigmoid();
                return [needs[0] ? g * b * s * (1 + a * (1 - s)) : null, needs[1] ? g * a * s : null];
            }
            var gc = g.Contiguous();
            var da = Empty(a.ShapeRef, a.DType, a.Device);
            var db = Empty(a.ShapeRef, a.DType, a.Device);
            if (a.DType == DType.Float32) SwiGluKernel.Backward<float>(a, b, gc, da, db);
            else SwiGluKernel.Backward<double>(a, b, gc, da, db);
            return [needs[0] ? da : null, needs[1] ? db : null];
        }
    }
}
