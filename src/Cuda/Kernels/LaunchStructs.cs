using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ttt.Cuda.Kernels;

/// <summary>Eight 64-bit values inline (the fixed arrays of the kernel structs).</summary>
[InlineArray(LaunchLayout.MaxDims)]
internal struct Dims8
{
    private long _element0;
}

/// <summary>
/// The iteration space of a launch, passed to kernels by value; mirrors <c>struct Shape8</c> in ptx/common.cuh
/// (80 bytes: numel, rank, padding, size[8]).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Shape8
{
    /// <summary>Number of elements (product of the sizes).</summary>
    public long Numel;
    /// <summary>Number of dims in use (≤ 8).</summary>
    public int Rank;
    private readonly int _pad;
    /// <summary>Sizes of the dims; entries ≥ rank are 0.</summary>
    public Dims8 Size;
}

/// <summary>
/// One operand's layout over a <see cref="Shape8"/>; mirrors <c>struct Strides8</c> in ptx/common.cuh
/// (72 bytes: element offset, stride[8] in elements).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Strides8
{
    /// <summary>Element offset of element 0 inside the operand's storage.</summary>
    public long Offset;
    /// <summary>Strides in elements; entries ≥ rank are 0.</summary>
    public Dims8 Stride;
}
