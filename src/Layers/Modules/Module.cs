namespace Ttt.Nn;

/// <summary>
/// Base class of every layer and model. A module owns named parameters and named child modules; names compose
/// with dots (<c>model.layers.0.seq_modeling_block.W1</c>), exactly as the official PyTorch state dicts name them,
/// so checkpoints load by name. Modules have a train/eval mode that propagates to children.
/// </summary>
public abstract class Module
{
    private readonly List<Parameter> _parameters = [];
    private readonly List<(string Name, Module Module)> _children = [];

    /// <summary>True in training mode (the default), false after <see cref="Eval"/>.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Registers a learnable tensor under a local name.</summary>
    protected Parameter AddParameter(string name, Tensor value)
    {
        if (_parameters.Any(p => p.Name == name) || _children.Any(c => c.Name == name))
            throw new ArgumentException($"{GetType().Name}: the name '{name}' is already used");
        var p = new Parameter(name, value);
        _parameters.Add(p);
        return p;
    }

    /// <summary>Registers a child module under a local name.</summary>
    protected T AddModule<T>(string name, T module) where T : Module
    {
        ArgumentNullException.ThrowIfNull(module);
        if (_parameters.Any(p => p.Name == name) || _children.Any(c => c.Name == name))
            throw new ArgumentException($"{GetType().Name}: the name '{name}' is already used");
        _children.Add((name, module));
        return module;
    }

    /// <summary>Every parameter with its dotted name, depth first in registration order.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> NamedParameterSlots(string prefix = "")
    {
        foreach (var p in _parameters) yield return (prefix + p.Name, p);
        foreach (var (name, child) in _children)
            foreach (var item in child.NamedParameterSlots(prefix + name + "."))
                yield return item;
    }

    /// <summary>Every parameter tensor with its dotted name.</summary>
    public IEnumerable<(string Name, Tensor Tensor)> NamedParameters(string prefix = "") =>
        NamedParameterSlots(prefix).Select(x => (x.Name, x.Parameter.Value));

    /// <summary>Every parameter tensor.</summary>
    public IEnumerable<Tensor> Parameters() => NamedParameterSlots().Select(x => x.Parameter.Value);

    /// <summary>Child modules with their dotted names (this module first, as "").</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix.TrimEnd('.'), this);
        foreach (var (name, child) in _children)
            foreach (var item in child.NamedModules(prefix + name + "."))
                yield return item;
    }

    /// <summary>Total number of parameter elements.</summary>
    public long ParameterCount() => Parameters().Sum(p => p.Numel);

    /// <summary>Name → tensor for every parameter (the tensors themselves, not copies).</summary>
    public Dictionary<string, Tensor> StateDict() => NamedParameters().ToDictionary(x => x.Name, x => x.Tensor);

    /// <summary>
    /// Copies tensors into the parameters of the same names (converting dtype). With <paramref name="strict"/>,
    /// missing and unexpected names are an error that lists them; shapes must always match.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true, IEnumerable<string>? ignore = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        var ignored = new HashSet<string>(ignore ?? []);
        var slots = NamedParameterSlots().ToDictionary(x => x.Name, x => x.Parameter);
        var missing = slots.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !slots.ContainsKey(k) && !ignored.Contains(k)).ToList();
        if (strict && (missing.Count > 0 || unexpected.Count > 0))
            throw new InvalidDataException(
                $"state dict does not match the model: {missing.Count} missing ({string.Join(", ", missing.Take(10))}{(missing.Count > 10 ? ", …" : "")}), " +
                $"{unexpected.Count} unexpected ({string.Join(", ", unexpected.Take(10))}{(unexpected.Count > 10 ? ", …" : "")})");
        foreach (var (name, slot) in slots)
        {
            if (!state.TryGetValue(name, out var src)) continue;
            var dst = slot.Value;
            if (!ShapeUtil.SameShape(src.Shape, dst.Shape))
                throw new InvalidDataException($"state dict: '{name}' has shape {ShapeUtil.Format(src.Shape)}, the model expects {ShapeUtil.Format(dst.Shape)}");
            using (GradMode.Disable()) dst.CopyFrom(src.To(dst.Device).To(dst.DType));
        }
    }

    /// <summary>Converts every parameter to <paramref name="dtype"/> (new leaf tensors; gradients are dropped).</summary>
    public Module To(DType dtype)
    {
        foreach (var (_, p) in NamedParameterSlots())
            if (p.Value.DType != dtype)
                using (GradMode.Disable()) p.Value = p.Value.To(dtype);
        OnConverted();
        return this;
    }

    /// <summary>Moves every parameter to <paramref name="device"/>.</summary>
    public Module To(Device device)
    {
        foreach (var (_, p) in NamedParameterSlots())
            if (p.Value.Device != device)
                using (GradMode.Disable()) p.Value = p.Value.To(device);
        OnConverted();
        return this;
    }

    /// <summary>Called after dtype/device conversion so modules can rebuild derived constants.</summary>
    protected virtual void OnConverted()
    {
        foreach (var (_, child) in _children) child.OnConverted();
    }

    /// <summary>Sets training mode on this module and all children.</summary>
    public Module Train(bool training = true)
    {
        Training = training;
        foreach (var (_, c) in _children) c.Train(training);
        return this;
    }

    /// <summary>Sets evaluation mode (<c>Train(false)</c>).</summary>
    public Module Eval() => Train(false);

    /// <summary>Clears the accumulated gradient of every parameter.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.Grad = null;
    }

    /// <summary>The dtype of the first parameter (modules keep all parameters in one dtype).</summary>
    public DType DType => Parameters().FirstOrDefault()?.DType ?? DType.Float32;

    /// <summary>The device of the first parameter.</summary>
    public Device Device => Parameters().FirstOrDefault()?.Device ?? Device.Cpu;
}
