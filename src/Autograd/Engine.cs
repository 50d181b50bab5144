namespace Ttt;

/// <summary>
/// Reverse-mode automatic differentiation over the graph that ops record. Gradients can be accumulated into
/// leaves (<see cref="Backward(Tensor, Tensor?, bool, bool?)"/>) or returned (<see cref="Grad(Tensor, Tensor, Tensor?, bool, bool?)"/>); with <c>createGraph: true</c> the backward
/// pass itself is recorded, so the returned gradients can be differentiated again, to any order.
/// The traversal is iterative (no recursion), so graphs of any depth work.
/// </summary>
public static class Autograd
{
    /// <summary>
    /// Bytes of the distinct storages that the graph behind <paramref name="outputs"/> keeps alive for backward
    /// (saved tensors of every reachable node). A deterministic measure of a graph's activation memory.
    /// </summary>
    public static long SavedBytes(params Tensor[] outputs)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        var seen = new HashSet<GradNode>(ReferenceEqualityComparer.Instance);
        var storages = new HashSet<Storage>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<GradNode>(outputs.Where(o => o.GradFn is not null).Select(o => o.GradFn!));
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            if (!seen.Add(node)) continue;
            foreach (var t in node.HeldTensors()) storages.Add(t.Storage);
            foreach (var next in node.NextNodes()) stack.Push(next);
        }
        return storages.Sum(s => s.ByteLength);
    }

    /// <summary>Turns graph recording off until the returned scope is disposed.</summary>
    public static GradMode.Scope NoGrad() => GradMode.Disable();

    /// <summary>
    /// Gradients of <paramref name="outputs"/> (weighted by <paramref name="gradOutputs"/>, default 1 for scalar
    /// outputs) with respect to <paramref name="inputs"/>, without touching any <see cref="Tensor.Grad"/>.
    /// Inputs that do not influence the outputs get zero gradients.
    /// </summary>
    /// <param name="outputs">Tensors to differentiate (each must require grad).</param>
    /// <param name="inputs">Leaves or intermediate tensors of the graph.</param>
    /// <param name="gradOutputs">Upstream gradients, one per output (null entries: ones for scalar outputs).</param>
    /// <param name="createGraph">Record the backward pass so the results are differentiable.</param>
    /// <param name="retainGraph">Keep saved tensors for another backward (default: <paramref name="createGraph"/>).</param>
    public static Tensor[] Grad(IReadOnlyList<Tensor> outputs, IReadOnlyList<Tensor> inputs,
        IReadOnlyList<Tensor?>? gradOutputs = null, bool createGraph = false, bool? retainGraph = null)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(inputs);
        var run = new BackwardRun(outputs, gradOutputs, inputs, createGraph, retainGraph ?? createGraph);
        return run.Execute();
    }

    /// <summary>Gradient of one output with respect to one input (see <see cref="Grad(IReadOnlyList{Tensor}, IReadOnlyList{Tensor}, IReadOnlyList{Tensor?}?, bool, bool?)"/>).</summary>
    public static Tensor Grad(Tensor output, Tensor input, Tensor? gradOutput = null, bool createGraph = false, bool? retainGraph = null) =>
        Grad([output], [input], [gradOutput], createGraph, retainGraph)[0];

    /// <summary>
    /// Accumulates d(outputs)/d(leaf) into <see cref="Tensor.Grad"/> of every leaf that requires grad.
    /// </summary>
    public static void Backward(IReadOnlyList<Tensor> outputs, IReadOnlyList<Tensor?>? gradOutputs = null,
        bool createGraph = false, bool? retainGraph = null)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        var run = new BackwardRun(outputs, gradOutputs, null, createGraph, retainGraph ?? createGraph);
        run.Execute();
    }

    /// <summary>
    /// Accumulates the gradient of this tensor (a scalar, or weighted by <paramref name="gradient"/>) into the
    /// <see cref="Tensor.Grad"/> of every leaf that requires grad.
    /// </summary>
    public static void Backward(this Tensor output, Tensor? gradient = null, bool createGraph = false, bool? retainGraph = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        Backward([output], [gradient], createGraph, retainGraph);
    }
}
