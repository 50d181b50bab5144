using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Ttt.Cpu;

namespace Ttt.Models.Fused;

/// <summary>A strided [B, H, T, d] (or [B, H, T] with <see cref="SJ"/> unused) view of a CPU tensor's elements.</summary>
internal readonly unsafe struct View<T> where T : unmanaged
{
    public readonly T* P;
    public readonly long SB, SH, ST, SJ;

    public View(Tensor t)
    {
        P = (T*)((CpuStorage)t.Storage).Pointer + t.Offset;
        var s = t.Strides;
        SB = s[0];
        SH = s[1];
        ST = s[2];
        SJ = s.Length > 3 ? s[3] : 0;
    }

    /// <summary>Pointer to element (b, h, t, 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T* Row(int b, int h, int t) => P + b * SB + h * SH + t * ST;
}

/// <summary>
/// Everything one fused scan call reads and writes, as raw pointers into pinned CPU storages (the tensors are
/// kept alive by the caller for the duration of the call). Shapes: Q, K, V [B, H, T, d]; lr [B, H, T]; τ [K];
/// γ, β [H, d] contiguous; θ0 contiguous [H, …] or [B, H, …] (<see cref="ThetaBatched"/>).
/// </summary>
internal sealed unsafe class ScanIo<T> where T : unmanaged
{
    public int B, H, Len, D, K, Group;
    public View<T> Q, Kx, V, Lr;
    public double[] Tau = [];
    public T* Gamma, Beta;
    /// <summary>θ0 tensors, contiguous, in the inner model's parameter order.</summary>
    public T*[] Theta = [];
    public bool ThetaBatched;
    public bool ExactGelu;

    // forward outputs
    /// <summary>[B, T, H, d] contiguous (see <see cref="TokenRow"/>).</summary>
    public T* Out;
    /// <summary>Final state, one contiguous [B, H, …] block per parameter (views of the packed output).</summary>
    public T*[] StateOut = [];
    /// <summary>Boundary states [B·H, slots, padded state size], or null when nothing is saved (no grad).</summary>
    public T* Saved;

    // backward inputs/outputs
    /// <summary>Gradient of the outputs [B, T, H, d] contiguous.</summary>
    public T* GradOut;
    /// <summary>Gradient of the final state, one contiguous [B, H, …] block per parameter.</summary>
    public T*[] GradState = [];
    public T* GradQ, GradK, GradV, GradLr;
    /// <summary>Per (b, h) parameter gradients of θ0: contiguous [B, H, …] per parameter.</summary>
    public T*[] GradTheta = [];
    /// <summary>Per (b, h): dτ [B·H, K], dγ and dβ [B·H, d], accumulated in double and reduced by the caller.</summary>
    public double[] GradTau = [], GradGamma = [], GradBeta = [];

    /// <summary>
    /// Index of row (b, h, t) of the output, its gradient and the gradients of Q, K, V (times d), and of element
    /// (b, h, t) of the lr gradient: these are laid out [B, T, H, d] (and [B, T, H]), the memory order of the
    /// projections they come from and go back to, so that merging or splitting heads around the op copies nothing.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long TokenRow(int b, int h, int t) => ((long)b * Len + t) * H + h;

    /// <summary>Number of mini-batches including the remainder: ⌈T/K⌉.</summary>
    public int MiniBatches => (Len + K - 1) / K;

    /// <summary>Boundary-state slots per (b, h): one every <see cref="Group"/> mini-batches.</summary>
    public int Slots => (MiniBatches + Group - 1) / Group;
}

/// <summary>
/// Per-thread scratch memory: pinned, 64-byte aligned, zero-initialised blocks handed out when a kernel object is
/// built and reused for every (b, h) and mini-batch it serves (no allocation inside the scan). The blocks live as
/// long as this object (pinned arrays: the pointers stay valid).
/// </summary>
internal sealed unsafe class Scratch<T> where T : unmanaged
{
    private readonly List<T[]> _blocks = [];

    /// <summary>Zeroes every block (padding included).</summary>
    public void ClearAll()
    {
        foreach (var block in _blocks) Array.Clear(block);
    }

    /// <summary>A zeroed block of at least <paramref name="n"/> elements whose first element is 64-byte aligned.</summary>
    public T* Take(int n)
    {
        int pad = 64 / sizeof(T);
        var a = GC.AllocateArray<T>(n + pad, pinned: true);
        _blocks.Add(a);
        nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(a));
        int mis = (int)(p % 64);
        return (T*)(p + (mis == 0 ? 0 : 64 - mis));
    }
}

/// <summary>Small helpers shared by the kernels.</summary>
internal static unsafe class Util
{
    /// <summary>n rounded up to a multiple of w.</summary>
    public static int RoundUp(int n, int w) => (n + w - 1) / w * w;

    /// <summary>Copies <paramref name="count"/> elements with source stride <paramref name="stride"/> to a dense row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CopyIn<T>(T* dst, T* src, long stride, int count) where T : unmanaged
    {
        if (stride == 1) Copy(dst, src, count);
        else
            for (int j = 0; j < count; j++) dst[j] = src[j * stride];
    }

    /// <summary>Copies a dense block of <paramref name="count"/> elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Copy<T>(T* dst, T* src, int count) where T : unmanaged
    {
        // A plain vector loop: the copies here are rows of a few hundred bytes, where the general memmove's
        // dispatch costs more than the copy.
        long bytes = (long)count * sizeof(T), i = 0;
        byte* d = (byte*)dst, s = (byte*)src;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 64 <= bytes; i += 64) Vector512.Store(Vector512.Load(s + i), d + i);
        for (; i + 32 <= bytes; i += 32) Vector256.Store(Vector256.Load(s + i), d + i);
        for (; i + 8 <= bytes; i += 8) *(long*)(d + i) = *(long*)(s + i);
        for (; i < bytes; i++) d[i] = s[i];
    }

    /// <summary>
    /// Copies a block to memory that is not read again soon (the boundary states saved for the backward): with
    /// AVX-512 and 64-byte aligned ends, non-temporal stores, so the write stream neither evicts the working set
    /// nor reads the destination lines first. Without <paramref name="fence"/> the caller issues the store fence
    /// after a batch of copies.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void CopyStreaming<T>(T* dst, T* src, int count, bool fence = true) where T : unmanaged
    {
        long bytes = (long)count * sizeof(T);
        byte* d = (byte*)dst, s = (byte*)src;
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported || ((nint)d & 63) != 0 || ((nint)s & 63) != 0 || (bytes & 63) != 0)
        {
            Copy(dst, src, count);
            return;
        }
        for (long i = 0; i < bytes; i += 64)
            System.Runtime.Intrinsics.X86.Avx512F.StoreAlignedNonTemporal(d + i, Vector512.LoadAligned(s + i));
        if (fence) System.Runtime.Intrinsics.X86.Sse.StoreFence();
    }

    /// <summary>Copies rows×cols from a dense [rows, cols] block into a padded [rows, ld] block.</summary>
    public static void Pad<T>(T* dst, int ld, T* src, int rows, int cols) where T : unmanaged
    {
        for (int i = 0; i < rows; i++) Copy(dst + i * ld, src + i * cols, cols);
    }

    /// <summary>Copies rows×cols from a padded [rows, ld] block into a dense [rows, cols] block.</summary>
    public static void Unpad<T>(T* dst, T* src, int ld, int rows, int cols) where T : unmanaged
    {
        for (int i = 0; i < rows; i++) Copy(dst + i * cols, src + i * ld, cols);
    }

    /// <summary>Zeroes rows [from, to) of a [*, ld] block.</summary>
    public static void ZeroRows<T>(T* p, int ld, int from, int to) where T : unmanaged
    {
        if (to > from) new Span<T>(p + from * ld, (to - from) * ld).Clear();
    }
}
