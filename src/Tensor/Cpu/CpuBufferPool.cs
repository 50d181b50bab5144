using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ttt.Cpu;

/// <summary>
/// Recycles the pinned arrays behind CPU storages, so that a training loop that allocates the same tensor
/// sizes every step reuses last step's memory instead of asking the collector (and the OS) for fresh arrays.
/// </summary>
/// <remarks>
/// <para>
/// Why: a fresh multi-megabyte array costs far more than most element-wise ops on it. Large pinned arrays live on
/// the collector's pinned-object heap, which is budgeted like generation 2: a step that allocates a few hundred MB
/// triggers a full collection every few tens of MB, and the pages of a freed region are handed back and faulted in
/// again (each 4 KiB page zeroed by the kernel) on the next allocation. On a 2-core VM this was most of the time of a
/// TTT layer's forward+backward.
/// </para>
/// <para>
/// How: a storage of at least <see cref="MinPooledBytes"/> takes its array from here (exact size class, 64-byte
/// aligned start) and gives it back from its finalizer once the collector has found the storage unreachable. Only
/// unreachable storages return arrays, so no view can see its memory reused; the finalizer keeps the array alive
/// until it is handed back. Arrays are grouped by element type and size class (the length rounded up to 1/8 of
/// its power of two, so at most 12.5 % is wasted); the pool keeps at most <see cref="MaxRetainedBytes"/>. When a returned
/// array does not fit, arrays of the size classes rented least recently are released to the collector to make room,
/// so the pool follows a change of workload (say from one model's steps to another's) instead of staying full of
/// sizes nobody asks for; only an array larger than the whole limit is dropped. <see cref="Trim"/> empties it.
/// </para>
/// </remarks>
public static class CpuBufferPool
{
    /// <summary>
    /// Arrays of fewer bytes than this are not pooled; 0: every storage is. Storages are pinned, so even the smallest
    /// live on the pinned-object heap, whose allocations count towards full collections and take the runtime's slow
    /// allocation path: decoding (thousands of 3 KB vectors per token) ran a full collection every few hundred ops
    /// before these were pooled, and with a 1 KB threshold the few-element tensors of a decoding token (a norm's
    /// per-row statistics, learning rates, scalars; about 200 per token of the 125m model) took over a microsecond
    /// each to allocate, most of a decoding RMSNorm's time, against a fraction of that from the pool.
    /// </summary>
    public const long MinPooledBytes = 0;

    private static readonly Lock s_lock = new();
    private static readonly Dictionary<(Type, int), Stack<Array>> s_free = [];
    // When each size class was last asked for (a counter of rent calls): the eviction order when the pool is full.
    private static readonly Dictionary<(Type, int), long> s_lastRented = [];
    private static long s_rentClock;
    private static long s_retained, s_hits, s_misses, s_dropped, s_rentedBytes;

    /// <summary>Bytes handed out (from the pool or new) after which a miss triggers a collection (see <see cref="Rent"/>).</summary>
    private const long CollectAfterBytes = 64L << 20;
    private static long s_maxRetained = DefaultMaxRetained();
    private static bool s_enabled = true;

    /// <summary>Whether new storages use the pool (default true). Turning it off also empties it.</summary>
    public static bool Enabled
    {
        get => s_enabled;
        set
        {
            s_enabled = value;
            if (!value) Trim();
        }
    }

    /// <summary>
    /// The most bytes of free arrays kept for reuse (default: a quarter of the memory the runtime may use, at most
    /// 8 GiB). Lowering it trims the pool.
    /// </summary>
    public static long MaxRetainedBytes
    {
        get => Interlocked.Read(ref s_maxRetained);
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            Interlocked.Exchange(ref s_maxRetained, value);
            lock (s_lock) TrimTo(value);
        }
    }

    /// <summary>Bytes of free arrays held now.</summary>
    public static long RetainedBytes => Interlocked.Read(ref s_retained);

    /// <summary>Storages served from the pool since start.</summary>
    public static long Hits => Interlocked.Read(ref s_hits);

    /// <summary>Poolable storages that needed a new array since start.</summary>
    public static long Misses => Interlocked.Read(ref s_misses);

    /// <summary>Arrays given back but not kept because the pool was full.</summary>
    public static long Dropped => Interlocked.Read(ref s_dropped);

    /// <summary>Releases every free array to the collector.</summary>
    public static void Trim()
    {
        lock (s_lock) TrimTo(0);
    }

    private static long DefaultMaxRetained()
    {
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (available <= 0) available = 4L << 30;
        return Math.Min(available / 4, 8L << 30);
    }

    /// <summary>The array length (in elements) used for a request of <paramref name="length"/> elements plus padding.</summary>
    internal static int SizeClass(long length)
    {
        if (length <= 64) return (int)length;
        int log = 63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)(length - 1));   // 2^log < length ≤ 2^(log+1)
        long step = Math.Max(1L << Math.Max(log - 3, 0), 16);
        long rounded = (length + step - 1) / step * step;
        return (int)Math.Min(rounded, Array.MaxLength);
    }

    /// <summary>Whether an array of <paramref name="length"/> elements of <paramref name="elementSize"/> bytes is pooled.</summary>
    internal static bool Pools(long length, int elementSize) => s_enabled && length * elementSize >= MinPooledBytes;

    /// <summary>An array of at least <paramref name="length"/> elements from the pool, or null (the caller allocates).</summary>
    internal static T[]? Rent<T>(int length) where T : unmanaged
    {
        if (TryTake<T>(length, out bool collect) is { } array) return array;
        if (!collect) return null;
        // Storages die unnoticed until a collection runs, and a loop whose arrays come from here allocates too little
        // for the collector to run on its own. So when the pool has run dry and CollectAfterBytes have been handed
        // out since the last collection (enough that many of them are likely dead by now), collect, let the dead
        // storages' finalizers hand their arrays back (outside the lock: they take it) and look again. A collection
        // of the small managed heap costs far less than faulting in fresh pages, and this keeps the pool near what
        // one stretch of CollectAfterBytes needs instead of growing to cover several steps.
        // A full collection, not a generation-0 one: storages that lived through a collection (a forward's outputs
        // kept for a few iterations, activations of a training step) are older, and a young-only collection that
        // found the one size asked for left the rest unreclaimed, so later misses faulted in fresh arrays (a TTT
        // layer forward took 3.7x as long).
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return TryTake<T>(length, out _);
    }

    /// <summary>Marshal.SizeOf&lt;T&gt;() once per element type (it is a runtime lookup, not a constant).</summary>
    private static class ElementBytes<T>
    {
        public static readonly int Value = Marshal.SizeOf<T>();
    }

    private static T[]? TryTake<T>(int length, out bool collect) where T : unmanaged
    {
        var key = (typeof(T), length);
        collect = false;
        lock (s_lock)
        {
            s_rentedBytes += (long)length * ElementBytes<T>.Value;
            s_lastRented[key] = ++s_rentClock;
            if (s_free.TryGetValue(key, out var stack) && stack.Count > 0)
            {
                // The key holds typeof(T), so this stack holds T[] only: no checked cast needed.
                var array = Unsafe.As<T[]>(stack.Pop());
                s_retained -= (long)array.Length * ElementBytes<T>.Value;
                s_hits++;
                return array;
            }
            s_misses++;
            if (s_rentedBytes >= CollectAfterBytes)
            {
                s_rentedBytes = 0;
                collect = true;
            }
            return null;
        }
    }

    /// <summary>Takes back an array whose storage is unreachable (called from the storage's finalizer).</summary>
    internal static void Return(Array array, int elementSize)
    {
        long bytes = (long)array.Length * elementSize;
        lock (s_lock)
        {
            var key = (array.GetType().GetElementType()!, array.Length);
            if (!s_enabled || bytes > s_maxRetained || !MakeRoom(bytes, key))
            {
                s_dropped++;
                return;
            }
            if (!s_free.TryGetValue(key, out var stack)) s_free[key] = stack = new Stack<Array>();
            stack.Push(array);
            s_retained += bytes;
        }
    }

    /// <summary>
    /// Releases free arrays of the size classes rented least recently (never <paramref name="keep"/>'s own) until
    /// <paramref name="bytes"/> more fit under the limit. Called under the lock.
    /// </summary>
    private static bool MakeRoom(long bytes, (Type, int) keep)
    {
        while (s_retained + bytes > s_maxRetained)
        {
            (Type, int)? oldest = null;
            long oldestTick = long.MaxValue;
            foreach (var (key, stack) in s_free)
            {
                if (stack.Count == 0 || key == keep) continue;
                long tick = s_lastRented.GetValueOrDefault(key);
                if (tick < oldestTick) (oldest, oldestTick) = (key, tick);
            }
            if (oldest is not { } victim) return false;
            var a = s_free[victim].Pop();
            s_retained -= (long)a.Length * Marshal.SizeOf(a.GetType().GetElementType()!);
        }
        return true;
    }

    private static void TrimTo(long limit)
    {
        if (s_retained <= limit) return;
        foreach (var stack in s_free.Values)
            while (stack.Count > 0 && s_retained > limit)
            {
                var a = stack.Pop();
                s_retained -= (long)a.Length * Marshal.SizeOf(a.GetType().GetElementType()!);
            }
    }
}
