using System.Runtime.CompilerServices;

namespace Ttt;

/// <summary>
/// An n-dimensional array: a strided view (shape, strides, offset, all in elements) over a <see cref="Storage"/>.
/// Views (reshape, permute, narrow, expand, …) share the storage without copying. A tensor also carries its
/// autograd state: whether gradients flow to it, the node that produced it and, for leaves, its accumulated
/// <see cref="Grad"/>.
/// <para>Ops are methods of this class, one file per op under <c>Ops/</c>, each beside its backward rule.
/// Every backward rule is written with these same differentiable ops, so gradients can be differentiated again.</para>
/// </summary>
public sealed partial class Tensor
{
    private readonly int[] _shape;
    private readonly long[] _strides;
    private bool _requiresGrad;

    internal Tensor(Storage storage, int[] shape, long[] strides, long offset)
    {
        Storage = storage;
        _shape = shape;
        _strides = strides;
        Offset = offset;
    }

    /// <summary>The buffer this tensor views.</summary>
    public Storage Storage { get; }

    /// <summary>Sizes of each dimension.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>Step, in elements, between neighbours along each dimension (0 for broadcast dims).</summary>
    public ReadOnlySpan<long> Strides => _strides;

    /// <summary>Element offset of the first element inside <see cref="Storage"/>.</summary>
    public long Offset { get; }

    /// <summary>Element type.</summary>
    public DType DType => Storage.DType;

    /// <summary>Device of the storage.</summary>
    public Device Device => Storage.Device;

    /// <summary>The backend that computes on this tensor.</summary>
    public IBackend Backend => Storage.Backend;

    /// <summary>Number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>Number of elements.</summary>
    public long Numel => ShapeUtil.Numel(_shape);

    /// <summary>Size of dimension <paramref name="dim"/> (negative counts from the end).</summary>
    public int Size(int dim) => _shape[ShapeUtil.NormalizeDim("size", dim, Rank, _shape)];

    /// <summary>A copy of the shape.</summary>
    public int[] ShapeArray() => (int[])_shape.Clone();

    internal int[] ShapeRef => _shape;
    internal long[] StridesRef => _strides;

    /// <summary>True when the elements are laid out row-major without gaps (views may still be contiguous).</summary>
    public bool IsContiguous
    {
        get
        {
            long expected = 1;
            for (int i = _shape.Length - 1; i >= 0; i--)
            {
                if (_shape[i] == 1) continue;
                if (_strides[i] != expected) return false;
                expected *= _shape[i];
            }
            return true;
        }
    }

    /// <summary>Optional name used in messages (parameters get their dotted names).</summary>
    public string? Name { get; set; }

    // ---------------------------------------------------------------- autograd state

    /// <summary>
    /// Whether gradients are computed for this tensor. Set it on leaves (parameters, inputs); results of ops
    /// require grad when any input does and grad mode is on.
    /// </summary>
    public bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (!value && GradFn is not null)
                throw new InvalidOperationException("RequiresGrad can only be cleared on a leaf tensor; use Detach() to cut a result out of the graph");
            if (value && !DType.IsFloatingPoint())
                throw new InvalidOperationException($"only floating-point tensors can require gradients (this one is {DType.Name()})");
            _requiresGrad = value;
        }
    }

    /// <summary>Accumulated gradient of a leaf after <c>Backward()</c> (null before).</summary>
    public Tensor? Grad { get; set; }

    /// <summary>The node that produced this tensor (null for leaves and for results computed without grad).</summary>
    public GradNode? GradFn { get; private set; }

    /// <summary>True for tensors not produced by a recorded op.</summary>
    public bool IsLeaf => GradFn is null;

    /// <summary>Sets <see cref="RequiresGrad"/> and returns this tensor (for chaining).</summary>
    public Tensor RequireGrad(bool requiresGrad = true)
    {
        RequiresGrad = requiresGrad;
        return this;
    }

    /// <summary>A view of the same storage that is cut out of the graph (no grad, no history).</summary>
    public Tensor Detach() => new(Storage, _shape, _strides, Offset) { Name = Name };

    /// <summary>True when ops on these inputs must be recorded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool ShouldRecord(Tensor a) => a._requiresGrad && GradMode.IsEnabled;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool ShouldRecord(Tensor a, Tensor b) => (a._requiresGrad || b._requiresGrad) && GradMode.IsEnabled;

    internal static bool ShouldRecord(ReadOnlySpan<Tensor> inputs)
    {
        if (!GradMode.IsEnabled) return false;
        foreach (var t in inputs)
            if (t._requiresGrad) return true;
        return false;
    }

    /// <summary>Attaches the node that produced this (fresh) tensor and marks it as requiring grad.</summary>
    internal Tensor WithGradFn(GradNode node)
    {
        GradFn = node;
        _requiresGrad = true;
        node.AttachOutput(this);
        if (AnomalyMode.IsEnabled) AnomalyMode.CheckForward(node, this);
        return this;
    }

    /// <summary>Attaches a user-defined node (custom functions); the tensor must be fresh and a leaf.</summary>
    public Tensor AttachGradFn(GradNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (GradFn is not null) throw new InvalidOperationException("this tensor already has a grad function");
        return WithGradFn(node);
    }

    // ---------------------------------------------------------------- checks

    internal void CheckSameDevice(string op, Tensor other)
    {
        if (Device != other.Device)
            throw new ArgumentException($"{op}: tensors are on different devices ({Device} {ShapeUtil.Format(_shape)} and {other.Device} {ShapeUtil.Format(other._shape)}); move one with To(device)");
    }

    internal void CheckSameDType(string op, Tensor other)
    {
        if (DType != other.DType)
            throw new ArgumentException($"{op}: dtypes differ ({DType.Name()} {ShapeUtil.Format(_shape)} and {other.DType.Name()} {ShapeUtil.Format(other._shape)}); convert one with To(dtype)");
    }

    internal void CheckFloat(string op)
    {
        if (!DType.IsFloatingPoint())
            throw new ArgumentException($"{op}: expected a float32 or float64 tensor, got {DType.Name()} {ShapeUtil.Format(_shape)}");
    }

    internal void CheckCompatible(string op, Tensor other)
    {
        CheckSameDevice(op, other);
        CheckSameDType(op, other);
    }

    /// <inheritdoc/>
    public override string ToString() => TensorFormatter.Format(this);
}
