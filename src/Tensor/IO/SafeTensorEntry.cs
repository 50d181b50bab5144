namespace Ttt.IO;

/// <summary>
/// One tensor as the header of a safetensors file describes it, after validation: its name, stored type, shape and
/// byte range inside the data section (the bytes after the header). Reading the header alone gives these, so a
/// caller can inspect a file without loading its data.
/// </summary>
public sealed class SafeTensorEntry
{
    private readonly int[] _shape;

    internal SafeTensorEntry(string name, SafeTensorDType dtype, int[] shape, long elementCount, long dataBegin, long dataEnd)
    {
        Name = name;
        DType = dtype;
        _shape = shape;
        ElementCount = elementCount;
        DataBegin = dataBegin;
        DataEnd = dataEnd;
    }

    /// <summary>The tensor's name (a key of the header).</summary>
    public string Name { get; }

    /// <summary>The element type stored in the file.</summary>
    public SafeTensorDType DType { get; }

    /// <summary>Sizes of each dimension (empty for a 0-d tensor).</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>A copy of the shape.</summary>
    public int[] ShapeArray() => (int[])_shape.Clone();

    internal int[] ShapeRef => _shape;

    /// <summary>Number of elements (1 for a 0-d tensor, 0 when any dimension is 0).</summary>
    public long ElementCount { get; }

    /// <summary>First byte of the tensor, counted from the start of the data section.</summary>
    public long DataBegin { get; }

    /// <summary>One past the last byte of the tensor, counted from the start of the data section.</summary>
    public long DataEnd { get; }

    /// <summary>Bytes the tensor occupies in the file.</summary>
    public long ByteLength => DataEnd - DataBegin;

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Name}: {DType.HeaderName()} {ShapeUtil.Format(_shape)} bytes [{DataBegin}, {DataEnd})";
}
