namespace Ttt;

/// <summary>One backward pass: discovers the graph, orders it, runs the nodes and routes the gradients.</summary>
internal sealed class BackwardRun
{
    private readonly IReadOnlyList<Tensor> _outputs;
    private readonly Tensor[] _gradOutputs;
    private readonly IReadOnlyList<Tensor>? _inputs; // null: accumulate into every leaf
    private readonly bool _createGraph, _retainGraph;

    private readonly Dictionary<Tensor, int> _leafTargets = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<GradNode, int> _nodeTargets = new(ReferenceEqualityComparer.Instance);

    public BackwardRun(IReadOnlyList<Tensor> outputs, IReadOnlyList<Tensor?>? gradOutputs, IReadOnlyList<Tensor>? inputs, bool createGraph, bool retainGraph)
    {
        if (outputs.Count == 0) throw new ArgumentException("backward: no outputs given", nameof(outputs));
        if (gradOutputs is not null && gradOutputs.Count != outputs.Count)
            throw new ArgumentException($"backward: {gradOutputs.Count} gradient outputs for {outputs.Count} outputs", nameof(gradOutputs));
        _outputs = outputs;
        _inputs = inputs;
        _createGraph = createGraph;
        _retainGraph = retainGraph;
        _gradOutputs = new Tensor[outputs.Count];
        for (int i = 0; i < outputs.Count; i++)
        {
            var o = outputs[i] ?? throw new ArgumentNullException(nameof(outputs), $"backward: output {i} is null");
            if (!o.RequiresGrad)
                throw new InvalidOperationException($"backward: output {i} (shape {ShapeUtil.Format(o.Shape)}) does not require grad and has no grad function; nothing to differentiate");
            var g = gradOutputs?[i];
            if (g is null)
            {
                if (o.Numel != 1)
                    throw new InvalidOperationException($"backward: output {i} has shape {ShapeUtil.Format(o.Shape)}; a gradient can be implied only for one-element outputs, so pass gradOutputs");
                g = Tensor.OnesLike(o);
            }
            else if (!ShapeUtil.SameShape(g.Shape, o.Shape))
                throw new ArgumentException($"backward: gradient {i} has shape {ShapeUtil.Format(g.Shape)} but output {i} has shape {ShapeUtil.Format(o.Shape)}");
            else if (g.DType != o.DType || g.Device != o.Device)
                throw new ArgumentException($"backward: gradient {i} is {g.DType.Name()} on {g.Device} but output {i} is {o.DType.Name()} on {o.Device}");
            _gradOutputs[i] = g;
        }
        if (inputs is not null)
            for (int i = 0; i < inputs.Count; i++)
            {
                var t = inputs[i] ?? throw new ArgumentNullException(nameof(inputs), $"grad: input {i} is null");
                if (!t.RequiresGrad)
                    throw new InvalidOperationException($"grad: input {i} (shape {ShapeUtil.Format(t.Shape)}) does not require grad");
                if (t.GradFn is { } fn) _nodeTargets.TryAdd(fn, i);
                else _leafTargets.TryAdd(t, i);
            }
    }

    public Tensor[] Execute()
    {
        // 1. Discover the nodes reachable from the outputs and count, for each, how many edges point at it.
        var roots = new List<GradNode>();
        foreach (var o in _outputs)
            if (o.GradFn is { } fn) roots.Add(fn);
        var dependents = new Dictionary<GradNode, int>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<GradNode>();
        foreach (var r in roots)
            if (dependents.TryAdd(r, 0)) stack.Push(r);
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            foreach (var e in node.Edges)
            {
                if (e.Node is null) continue;
                if (dependents.TryGetValue(e.Node, out int c)) dependents[e.Node] = c + 1;
                else
                {
                    dependents[e.Node] = 1;
                    stack.Push(e.Node);
                }
            }
        }

        // 2. Topological order (Kahn): a node comes after every node that sends it a gradient.
        var order = new List<GradNode>(dependents.Count);
        var ready = new Queue<GradNode>();
        var remaining = new Dictionary<GradNode, int>(dependents, ReferenceEqualityComparer.Instance);
        foreach (var (node, count) in dependents)
            if (count == 0) ready.Enqueue(node);
        while (ready.Count > 0)
        {
            var node = ready.Dequeue();
            order.Add(node);
            foreach (var e in node.Edges)
                if (e.Node is not null && --remaining[e.Node] == 0) ready.Enqueue(e.Node);
        }

        // 3. Which nodes must run: those from which a wanted gradient is reachable (reverse order).
        var needed = new HashSet<GradNode>(ReferenceEqualityComparer.Instance);
        for (int i = order.Count - 1; i >= 0; i--)
        {
            var node = order[i];
            foreach (var e in node.Edges)
                if (WantsEdge(e, needed))
                {
                    needed.Add(node);
                    break;
                }
        }

        // 4. Run the nodes in order, accumulating gradients.
        var nodeGrads = new Dictionary<GradNode, Tensor>(ReferenceEqualityComparer.Instance);
        var leafGrads = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance);
        var results = _inputs is null ? [] : new Tensor?[_inputs.Count];
        for (int i = 0; i < _outputs.Count; i++)
        {
            var o = _outputs[i];
            if (o.GradFn is { } fn) Accumulate(nodeGrads, fn, _gradOutputs[i]);
            else if (WantsLeaf(o)) Accumulate(leafGrads, o, _gradOutputs[i]);
        }
        using (_createGraph ? GradMode.Enable() : GradMode.Disable())
        {
            foreach (var node in order)
            {
                if (!nodeGrads.Remove(node, out var grad)) continue;
                if (_nodeTargets.TryGetValue(node, out int target)) results[target] = Add(results[target], grad);
                if (!needed.Contains(node)) continue;
                var needs = new bool[node.Edges.Length];
                bool any = false;
                for (int i = 0; i < needs.Length; i++)
                {
                    var e = node.Edges[i];
                    needs[i] = WantsEdge(e, needed);
                    any |= needs[i];
                }
                if (!any) continue;
                var inputGrads = node.Backward(grad, needs);
                if (inputGrads.Length != needs.Length)
                    throw new InvalidOperationException($"{node.Name} backward returned {inputGrads.Length} gradients for {needs.Length} inputs");
                for (int i = 0; i < needs.Length; i++)
                {
                    var g = inputGrads[i];
                    if (!needs[i] || g is null) continue;
                    var e = node.Edges[i];
                    if (AnomalyMode.IsEnabled) CheckFinite(node, i, g);
                    if (e.Node is not null)
                    {
                        CheckShape(node, i, g, e.Node.OutputShapeRef);
                        Accumulate(nodeGrads, e.Node, g);
                    }
                    else if (e.Leaf is not null)
                    {
                        CheckShape(node, i, g, e.Leaf.ShapeRef);
                        Accumulate(leafGrads, e.Leaf, g);
                    }
                }
                if (!_retainGraph) node.ReleaseSaved();
            }
        }
        if (!_retainGraph)
            foreach (var node in order) node.ReleaseSaved();

        // 5. Deliver.
        if (_inputs is null)
        {
            foreach (var (leaf, g) in leafGrads)
                leaf.Grad = leaf.Grad is null ? DenseGrad(g) : DetachedSum(leaf.Grad, g);
            return [];
        }
        foreach (var (leaf, i) in _leafTargets)
            if (leafGrads.TryGetValue(leaf, out var g)) results[i] = g;
        var final = new Tensor[_inputs.Count];
        for (int i = 0; i < _inputs.Count; i++)
        {
            var t = _inputs[i];
            // Duplicates of the same input share its slot.
            int slot = t.GradFn is { } fn ? _nodeTargets[fn] : _leafTargets[t];
            final[i] = results[slot] ?? Tensor.ZerosLike(t);
        }
        return final;
    }

    /// <summary>An edge is wanted when it leads to a wanted leaf, to a target node or to a node that must run.</summary>
    private bool WantsEdge(Edge e, HashSet<GradNode> needed) =>
        WantsLeaf(e.Leaf) || (e.Node is not null && (needed.Contains(e.Node) || _nodeTargets.ContainsKey(e.Node)));

    private bool WantsLeaf(Tensor? leaf) => leaf is not null && (_inputs is null ? leaf.RequiresGrad : _leafTargets.ContainsKey(leaf));

    /// <summary>
    /// A first gradient as stored in <see cref="Tensor.Grad"/>: contiguous, as PyTorch's gradient accumulation does.
    /// Backward rules return views where that is free (the weight gradient of x·Wᵀ is a transposed view); a
    /// contiguous .Grad lets the optimizer and the norm stream it in one pass and keeps later sums dense.
    /// </summary>
    private Tensor DenseGrad(Tensor g)
    {
        if (g.IsContiguous) return g;
        using (_createGraph ? GradMode.Enable() : GradMode.Disable()) return g.Contiguous();
    }

    private Tensor DetachedSum(Tensor a, Tensor b)
    {
        using (_createGraph ? GradMode.Enable() : GradMode.Disable()) return a + b;
    }

    private static Tensor Add(Tensor? a, Tensor b) => a is null ? b : a + b;

    private static void Accumulate<TKey>(Dictionary<TKey, Tensor> grads, TKey key, Tensor g) where TKey : notnull =>
        grads[key] = grads.TryGetValue(key, out var existing) ? existing + g : g;

    private static void CheckShape(GradNode node, int input, Tensor g, int[] expected)
    {
        if (!ShapeUtil.SameShape(g.Shape, expected))
            throw new InvalidOperationException($"{node.Name} backward returned a gradient of shape {ShapeUtil.Format(g.Shape)} for input {input}, whose shape is {ShapeUtil.Format(expected)}");
    }

    private static void CheckFinite(GradNode node, int input, Tensor g)
    {
        using (GradMode.Disable())
        {
            var bad = g.Detach().Abs().Sum().Item();
            if (double.IsFinite(bad)) return;
        }
        throw new ArithmeticException($"anomaly: {node.Name} backward produced a non-finite gradient for its input {input} (shape {ShapeUtil.Format(g.Shape)}); the op was created at:{Environment.NewLine}{node.CreationTrace}");
    }
}
