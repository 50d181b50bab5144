using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Ttt.Cuda.Native;

/// <summary>The native libraries the bindings call.</summary>
public enum CudaLibrary
{
    /// <summary>The CUDA driver API, <c>libcuda.so.1</c> (installed with the NVIDIA driver).</summary>
    Driver,
    /// <summary>cuBLAS, <c>libcublas.so.N</c> (installed with the CUDA toolkit or a framework's wheels).</summary>
    Cublas,
}

/// <summary>
/// Finds the CUDA libraries at run time. The bindings name them by a fixed import name
/// (<see cref="DriverImportName"/>, <see cref="CublasImportName"/>); a resolver registered for this assembly maps
/// each name to the first file that loads from <see cref="ProbeOrder(CudaLibrary)"/> and caches the handle, so one binary works
/// with CUDA 11 (<c>libcublas.so.11</c>), 12 and 13 and with libraries outside the loader path.
/// <para>Set the environment variable <c>TTT_CUDA_LIB_DIR</c> to a folder to try it first (an unusual install,
/// or the CPU emulator of the driver built by <c>ptx/emu/build.sh</c>).</para>
/// </summary>
internal static class NativeLibraries
{
    /// <summary>Import name of the driver API in the bindings.</summary>
    public const string DriverImportName = "libcuda.so.1";

    /// <summary>Import name of cuBLAS in the bindings (resolved to a versioned soname).</summary>
    public const string CublasImportName = "libcublas";

    /// <summary>Environment variable naming a folder that is probed before every other place.</summary>
    public const string OverrideDirVariable = "TTT_CUDA_LIB_DIR";

    /// <summary>Folders probed after the loader path (no stubs folder: stub libraries only return errors).</summary>
    public static IReadOnlyList<string> ExtraDirectories { get; } = ["/usr/local/cuda/lib64", "/usr/lib/x86_64-linux-gnu"];

    /// <summary>cuBLAS sonames, newest first, then the unversioned development link.</summary>
    public static IReadOnlyList<string> CublasSonames { get; } = ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"];

    /// <summary>Driver sonames: the ABI-stable <c>.so.1</c>, then the development link.</summary>
    public static IReadOnlyList<string> DriverSonames { get; } = ["libcuda.so.1", "libcuda.so"];

    private static readonly ConcurrentDictionary<CudaLibrary, (nint Handle, string? Path, string Tried)> s_cache = new();
    private static readonly Lock s_lock = new();
    private static bool s_registered;

    /// <summary>
    /// Candidate paths for <paramref name="library"/> in the order they are tried: for each soname (newest first),
    /// the override folder (when given), the bare name (the dynamic loader's search path), then
    /// <see cref="ExtraDirectories"/>.
    /// </summary>
    public static IReadOnlyList<string> ProbeOrder(CudaLibrary library, string? overrideDir)
    {
        var names = library == CudaLibrary.Driver ? DriverSonames : CublasSonames;
        var result = new List<string>();
        foreach (var name in names)
        {
            if (!string.IsNullOrEmpty(overrideDir)) result.Add(Path.Combine(overrideDir, name));
            result.Add(name);
            foreach (var dir in ExtraDirectories) result.Add(Path.Combine(dir, name));
        }
        return result;
    }

    /// <summary>The probe order with the override folder taken from <see cref="OverrideDirVariable"/>.</summary>
    public static IReadOnlyList<string> ProbeOrder(CudaLibrary library) =>
        ProbeOrder(library, Environment.GetEnvironmentVariable(OverrideDirVariable));

    /// <summary>Loads <paramref name="library"/> (once; later calls return the cached handle).</summary>
    /// <returns>The handle, or 0 when no candidate loads.</returns>
    public static nint TryLoad(CudaLibrary library) => Load(library).Handle;

    /// <summary>The file that was loaded for <paramref name="library"/>, or null when none loaded (or none tried yet).</summary>
    public static string? LoadedPath(CudaLibrary library) => s_cache.TryGetValue(library, out var e) ? e.Path : null;

    /// <summary>A message saying where <paramref name="library"/> was looked for (for "not found" errors).</summary>
    public static string Describe(CudaLibrary library) =>
        Load(library) is { Handle: 0 } e ? $"none of {e.Tried} could be loaded" : $"loaded from {LoadedPath(library)}";

    private static (nint Handle, string? Path, string Tried) Load(CudaLibrary library) =>
        s_cache.GetOrAdd(library, static lib =>
        {
            var candidates = ProbeOrder(lib);
            foreach (var path in candidates)
            {
                if (NativeLibrary.TryLoad(path, out var handle)) return (handle, path, "");
            }
            return (0, null, string.Join(", ", candidates));
        });

    /// <summary>Registers the resolver for the bindings of this assembly (idempotent; called before the first call).</summary>
    internal static void EnsureResolver()
    {
        lock (s_lock)
        {
            if (s_registered) return;
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);
            s_registered = true;
        }
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) => libraryName switch
    {
        DriverImportName => TryLoad(CudaLibrary.Driver),
        CublasImportName => TryLoad(CudaLibrary.Cublas),
        _ => 0, // anything else: the runtime's default probing
    };
}
