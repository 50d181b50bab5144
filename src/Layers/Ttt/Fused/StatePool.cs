namespace Ttt.Models.Fused;

/// <summary>
/// Reuse of the boundary-state buffers between scan calls. The buffer is large (B·H·⌈T/K⌉ states: 26 MB for
/// TTT-Linear and 200 MB for TTT-MLP at B=1, H=12, T=2048, d=64 float32) and written once per forward, so a fresh
/// allocation pays a page fault for every 4 KB on first touch — on the project's VMs about 30 µs each, more than
/// the scan's compute. A buffer returns to the pool when its node's first-order backward is done and is rented by
/// the next forward of the same size.
/// <para>The pool is only a cache: a node whose graph is retained (<c>retainGraph</c>) may run backward again after
/// its buffer was handed to another call. Each rental bumps the buffer's generation, so that node sees the change
/// and recomputes its states from its saved inputs instead.</para>
/// </summary>
internal static class StatePool
{
    /// <summary>Bytes the pool may hold while no call uses them.</summary>
    public const long MaxPooledBytes = 1L << 30;

    private static readonly object s_lock = new();
    private static readonly List<Entry> s_pooled = [];
    private static long s_pooledBytes;

    /// <summary>One buffer and the rental count that identifies its current owner.</summary>
    public sealed class Entry(Tensor tensor)
    {
        public Tensor Tensor { get; } = tensor;
        internal long Generation;
        internal bool InPool;
    }

    /// <summary>A node's claim on a buffer: valid while no later rental took the buffer.</summary>
    public readonly record struct Lease(Entry Entry, long Generation)
    {
        public Tensor Tensor => Entry.Tensor;
    }

    /// <summary>A buffer of <paramref name="length"/> elements (contents undefined), from the pool when one fits.</summary>
    public static Lease Rent(DType dtype, int length)
    {
        lock (s_lock)
        {
            for (int i = s_pooled.Count - 1; i >= 0; i--)
            {
                var e = s_pooled[i];
                if (e.Tensor.DType != dtype || e.Tensor.Numel != length) continue;
                s_pooled.RemoveAt(i);
                s_pooledBytes -= e.Tensor.Storage.ByteLength;
                e.InPool = false;
                return new Lease(e, ++e.Generation);
            }
        }
        return new Lease(new Entry(Tensor.Empty([length], dtype)), 0);
    }

    /// <summary>
    /// Takes the buffer back for the lease's owner before reading it: true when its contents are still the
    /// owner's (no later rental), and then it is no longer in the pool.
    /// </summary>
    public static bool Reclaim(Lease lease)
    {
        lock (s_lock)
        {
            var e = lease.Entry;
            if (e.Generation != lease.Generation) return false;
            if (e.InPool)
            {
                s_pooled.Remove(e);
                s_pooledBytes -= e.Tensor.Storage.ByteLength;
                e.InPool = false;
            }
            return true;
        }
    }

    /// <summary>Offers the buffer to later calls (its owner keeps a valid lease until someone rents it).</summary>
    public static void Return(Lease lease)
    {
        lock (s_lock)
        {
            var e = lease.Entry;
            long bytes = e.Tensor.Storage.ByteLength;
            if (e.Generation != lease.Generation || e.InPool || s_pooledBytes + bytes > MaxPooledBytes) return;
            e.InPool = true;
            s_pooled.Add(e);
            s_pooledBytes += bytes;
        }
    }
}
