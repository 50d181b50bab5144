namespace Ttt.Cpu;

public static unsafe partial class Gemm
{
    /// <summary>
    /// The number of rows of a micro-kernel instance, as a type: <c>Kernel512&lt;float, R5&gt;</c> is compiled with
    /// the constant 5, so edge tiles (the last rows of a block when m is not a multiple of MR) run a kernel of
    /// exactly their height instead of computing padding.
    /// </summary>
    internal interface IRowCount
    {
        static abstract int Value { get; }
    }

#pragma warning disable CA1812 // used only as type arguments
    internal readonly struct R1 : IRowCount { public static int Value => 1; }
    internal readonly struct R2 : IRowCount { public static int Value => 2; }
    internal readonly struct R3 : IRowCount { public static int Value => 3; }
    internal readonly struct R4 : IRowCount { public static int Value => 4; }
    internal readonly struct R5 : IRowCount { public static int Value => 5; }
    internal readonly struct R6 : IRowCount { public static int Value => 6; }
    internal readonly struct R7 : IRowCount { public static int Value => 7; }
    internal readonly struct R8 : IRowCount { public static int Value => 8; }
    internal readonly struct R9 : IRowCount { public static int Value => 9; }
    internal readonly struct R10 : IRowCount { public static int Value => 10; }
    internal readonly struct R11 : IRowCount { public static int Value => 11; }
    internal readonly struct R12 : IRowCount { public static int Value => 12; }
    internal readonly struct R13 : IRowCount { public static int Value => 13; }
    internal readonly struct R14 : IRowCount { public static int Value => 14; }
#pragma warning restore CA1812
}
