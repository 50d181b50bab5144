namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// A view of the same elements that is a distinct node of the graph (∂/∂x = g). Useful to take gradients
    /// with respect to "this use" of a tensor, e.g. when recomputing a checkpointed segment.
    /// </summary>
    public Tensor Alias()
    {
        var y = ViewRaw(ShapeArray(), (long[])_strides.Clone(), Offset);
        return ShouldRecord(this) ? y.WithGradFn(new AliasBackward(this)) : y;
    }

    private sealed class AliasBackward(Tensor x) : GradNode("alias", x)
    {
        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g];
    }
}
