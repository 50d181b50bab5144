namespace Ttt.Nn;

/// <summary>
/// A learnable tensor owned by a module. The wrapper lets a module swap the tensor (dtype conversion, loading)
/// while every user of the module keeps reading the current one through <see cref="Value"/>.
/// </summary>
public sealed class Parameter
{
    private Tensor _value;

    internal Parameter(string name, Tensor value)
    {
        Name = name;
        _value = value;
        _value.RequiresGrad = true;
        _value.Name = name;
    }

    /// <summary>The parameter's local name inside its module ("weight", "W1", …).</summary>
    public string Name { get; }

    /// <summary>The current tensor (a leaf that requires grad).</summary>
    public Tensor Value
    {
        get => _value;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (!ShapeUtil.SameShape(value.Shape, _value.Shape))
                throw new ArgumentException($"parameter '{Name}': new value has shape {ShapeUtil.Format(value.Shape)}, expected {ShapeUtil.Format(_value.Shape)}");
            var leaf = value.IsLeaf ? value : value.Detach();
            leaf.RequiresGrad = true;
            leaf.Name = _value.Name;
            _value = leaf;
        }
    }

    /// <summary>Shortcut for <c>Value</c>.</summary>
    public static implicit operator Tensor(Parameter p) => p.Value;
}
