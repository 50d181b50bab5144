namespace Ttt;

/// <summary>
/// One recorded op in the autograd graph. It produced exactly one output tensor and knows, for each of its inputs,
/// where that input's gradient must go (another node, a leaf tensor, or nowhere). Subclasses implement
/// <see cref="Backward"/> with differentiable tensor ops, which is what makes gradients of gradients possible.
/// </summary>
public abstract class GradNode
{
    private List<SavedTensor>? _saved;
    private int[] _outputShape = [];

    /// <summary>Records the inputs of the op named <paramref name="name"/>.</summary>
    protected GradNode(string name, params ReadOnlySpan<Tensor> inputs)
    {
        Name = name;
        var edges = new Edge[inputs.Length];
        for (int i = 0; i < inputs.Length; i++)
        {
            var t = inputs[i];
            if (!t.RequiresGrad) continue;
            edges[i] = t.GradFn is { } fn ? new Edge(fn, null) : new Edge(null, t);
        }
        Edges = edges;
        if (AnomalyMode.IsEnabled) CreationTrace = Environment.StackTrace;
    }

    /// <summary>The op's name, used in messages ("matmul", "layer_norm", …).</summary>
    public string Name { get; }

    /// <summary>Number of inputs (including those that do not require grad).</summary>
    public int InputCount => Edges.Length;

    /// <summary>Where each input's gradient goes.</summary>
    internal Edge[] Edges { get; }

    /// <summary>Shape of the output tensor (the shape of the gradient <see cref="Backward"/> receives).</summary>
    public ReadOnlySpan<int> OutputShape => _outputShape;

    internal int[] OutputShapeRef => _outputShape;

    /// <summary>DType of the output tensor.</summary>
    public DType OutputDType { get; private set; }

    /// <summary>Device of the output tensor.</summary>
    public Device OutputDevice { get; private set; }

    /// <summary>Stack trace of the op's creation, kept only in anomaly mode.</summary>
    public string? CreationTrace { get; }

    /// <summary>True once saved tensors were freed by a backward pass that did not retain the graph.</summary>
    public bool IsReleased { get; private set; }

    internal void AttachOutput(Tensor output)
    {
        _outputShape = output.ShapeRef;
        OutputDType = output.DType;
        OutputDevice = output.Device;
    }

    /// <summary>Whether input <paramref name="i"/> takes part in autograd at all.</summary>
    public bool InputRequiresGrad(int i) => Edges[i].Node is not null || Edges[i].Leaf is not null;

    /// <summary>
    /// Saves a tensor needed by <see cref="Backward"/>. It is freed after backward (unless the graph is retained),
    /// and an in-place change to it before backward is detected through the storage's version counter.
    /// </summary>
    protected SavedTensor Save(Tensor tensor)
    {
        var saved = new SavedTensor(this, tensor);
        (_saved ??= []).Add(saved);
        return saved;
    }

    /// <summary>
    /// Gradients with respect to the inputs, given the gradient <paramref name="grad"/> of the output. Entry i may
    /// be null when <paramref name="needsGrad"/>[i] is false. Each gradient must have its input's shape (reduce
    /// broadcast dims with <see cref="Tensor.SumTo"/>). Use only differentiable tensor ops: when the caller asks
    /// for <c>createGraph</c>, these ops are recorded and can be differentiated again.
    /// </summary>
    protected internal abstract Tensor?[] Backward(Tensor grad, bool[] needsGrad);

    /// <summary>The tensors this node currently keeps for its backward.</summary>
    public IEnumerable<Tensor> HeldTensors()
    {
        if (_saved is null) yield break;
        foreach (var s in _saved)
            if (s.Peek() is { } t) yield return t;
    }

    /// <summary>The nodes this node sends gradients to.</summary>
    public IEnumerable<GradNode> NextNodes() => Edges.Where(e => e.Node is not null).Select(e => e.Node!);

    /// <summary>Frees saved tensors (called by the engine after this node ran, unless the graph is retained).</summary>
    internal void ReleaseSaved()
    {
        IsReleased = true;
        if (_saved is null) return;
        foreach (var s in _saved) s.Release();
        _saved = null;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name}Backward{ShapeUtil.Format(_outputShape)}";
}

/// <summary>The destination of one input's gradient: a node (non-leaf input) or a leaf tensor.</summary>
internal readonly record struct Edge(GradNode? Node, Tensor? Leaf)
{
    public bool IsEmpty => Node is null && Leaf is null;
}

/// <summary>
/// A tensor kept by a node for its backward rule. Reading <see cref="Value"/> after backward freed it, or after an
/// in-place op changed it, throws a clear error instead of silently computing a wrong gradient.
/// </summary>
public sealed class SavedTensor
{
    private readonly GradNode _owner;
    private readonly int _version;
    private Tensor? _tensor;

    internal SavedTensor(GradNode owner, Tensor tensor)
    {
        _owner = owner;
        _tensor = tensor;
        _version = tensor.Storage.Version;
    }

    /// <summary>The saved tensor.</summary>
    public Tensor Value
    {
        get
        {
            var t = _tensor ?? throw new InvalidOperationException(
                $"{_owner.Name} backward: its saved tensors were already freed by an earlier backward pass; pass retainGraph: true to the first backward to differentiate through the graph twice");
            if (t.Storage.Version != _version)
                throw new InvalidOperationException(
                    $"{_owner.Name} backward: a tensor of shape {ShapeUtil.Format(t.Shape)} that it saved was modified by an in-place operation after it was saved (version {t.Storage.Version}, expected {_version}); clone it before changing it in place");
            return t;
        }
    }

    /// <summary>True while the tensor is held.</summary>
    public bool IsHeld => _tensor is not null;

    /// <summary>The held tensor without checks (null once released).</summary>
    internal Tensor? Peek() => _tensor;

    internal void Release() => _tensor = null;
}

/// <summary>
/// Anomaly detection: when enabled, nodes remember where they were created and the engine checks every gradient
/// for NaN/Inf, naming the first op that produced one.
/// </summary>
public static class AnomalyMode
{
    private static int s_enabled;

    /// <summary>True while anomaly detection is on.</summary>
    public static bool IsEnabled => Volatile.Read(ref s_enabled) > 0;

    /// <summary>Turns anomaly detection on until the returned scope is disposed.</summary>
    public static IDisposable Enable()
    {
        Interlocked.Increment(ref s_enabled);
        return new Scope();
    }

    /// <summary>Throws naming <paramref name="node"/>'s op when its output holds NaN or ±∞.</summary>
    internal static void CheckForward(GradNode node, Tensor output)
    {
        if (!output.DType.IsFloatingPoint() || output.Numel == 0) return;
        double total;
        using (GradMode.Disable()) total = output.Detach().Abs().Sum().Item();
        if (double.IsFinite(total)) return;
        throw new ArithmeticException($"anomaly: {node.Name} produced a non-finite output of shape {ShapeUtil.Format(output.Shape)} in the forward pass; the op was created at:{Environment.NewLine}{node.CreationTrace}");
    }

    private sealed class Scope : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) Interlocked.Decrement(ref s_enabled);
        }
    }
}
