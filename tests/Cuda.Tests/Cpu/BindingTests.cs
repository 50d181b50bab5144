using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.InteropServices;
using Ttt.Cuda.Native;

namespace Ttt.Cuda.Tests.Cpu;

/// <summary>The native bindings and the library resolver; no GPU needed.</summary>
public sealed class BindingTests
{
    /// <summary>The C entry points declared by [LibraryImport] methods of a bindings class.</summary>
    private static string[] EntryPoints(
        [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicMethods | DynamicallyAccessedMemberTypes.NonPublicMethods)] Type bindings) =>
        bindings.GetMethods(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public)
            .Select(m => m.GetCustomAttribute<LibraryImportAttribute>())
            .Where(a => a is not null)
            .Select(a => a!.EntryPoint!)
            .Order(StringComparer.Ordinal)
            .ToArray();

    [Fact]
    public void Driver_bindings_cover_the_required_calls()
    {
        var names = EntryPoints(typeof(CuDriver));
        string[] required =
        [
            "cuInit", "cuDeviceGet", "cuDeviceGetCount", "cuDeviceGetName", "cuDeviceGetAttribute", "cuDeviceTotalMem_v2",
            "cuDevicePrimaryCtxRetain", "cuDevicePrimaryCtxRelease_v2", "cuCtxSetCurrent", "cuCtxSynchronize",
            "cuModuleLoadData", "cuModuleLoadDataEx", "cuModuleGetFunction", "cuLaunchKernel",
            "cuMemAlloc_v2", "cuMemFree_v2", "cuMemcpyHtoD_v2", "cuMemcpyDtoH_v2", "cuMemcpyDtoD_v2",
            "cuMemcpyHtoDAsync_v2", "cuMemcpyDtoHAsync_v2", "cuMemcpyDtoDAsync_v2",
            "cuMemsetD8_v2", "cuMemsetD32_v2", "cuMemsetD8Async", "cuMemsetD32Async", "cuMemGetInfo_v2",
            "cuStreamCreate", "cuStreamDestroy_v2", "cuStreamSynchronize",
            "cuEventCreate", "cuEventRecord", "cuEventSynchronize", "cuEventElapsedTime", "cuEventDestroy_v2",
            "cuGetErrorName", "cuGetErrorString",
        ];
        Assert.Empty(required.Except(names));
    }

    [Fact]
    public void Cublas_bindings_cover_the_required_calls()
    {
        var names = EntryPoints(typeof(CuBlas));
        string[] required =
        [
            "cublasCreate_v2", "cublasDestroy_v2", "cublasSetStream_v2", "cublasSetMathMode", "cublasSgemmStridedBatched",
            "cublasDgemmStridedBatched", "cublasGemmStridedBatchedEx", "cublasGetProperty",
        ];
        Assert.Empty(required.Except(names));
    }

    [Theory]
    [InlineData(CudaLibrary.Driver)]
    [InlineData(CudaLibrary.Cublas)]
    public void Every_bound_symbol_is_exported_by_the_library_found(CudaLibrary library)
    {
        nint handle = NativeLibraries.TryLoad(library);
        Assert.SkipWhen(handle == 0, $"{library} library not installed here: {NativeLibraries.Describe(library)}");
        var type = library == CudaLibrary.Driver ? typeof(CuDriver) : typeof(CuBlas);
        var missing = EntryPoints(type).Where(e => !NativeLibrary.TryGetExport(handle, e, out _)).ToArray();
        Assert.True(missing.Length == 0, $"{NativeLibraries.LoadedPath(library)} lacks: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Cublas_probe_order_is_newest_soname_first_in_every_place()
    {
        var order = NativeLibraries.ProbeOrder(CudaLibrary.Cublas, null);
        Assert.Equal(
        [
            "libcublas.so.13", "/usr/local/cuda/lib64/libcublas.so.13", "/usr/lib/x86_64-linux-gnu/libcublas.so.13",
            "libcublas.so.12", "/usr/local/cuda/lib64/libcublas.so.12", "/usr/lib/x86_64-linux-gnu/libcublas.so.12",
            "libcublas.so.11", "/usr/local/cuda/lib64/libcublas.so.11", "/usr/lib/x86_64-linux-gnu/libcublas.so.11",
            "libcublas.so", "/usr/local/cuda/lib64/libcublas.so", "/usr/lib/x86_64-linux-gnu/libcublas.so",
        ], order);
    }

    [Fact]
    public void The_override_folder_is_tried_first_for_each_soname()
    {
        var order = NativeLibraries.ProbeOrder(CudaLibrary.Driver, "/opt/emu");
        Assert.Equal("/opt/emu/libcuda.so.1", order[0]);
        Assert.Equal("libcuda.so.1", order[1]);
        Assert.Equal("/opt/emu/libcuda.so", order[4]);
        Assert.DoesNotContain(order, p => p.Contains("stubs", StringComparison.Ordinal));
    }

    [Fact]
    public void Driver_errors_name_the_call_the_code_and_the_symbol()
    {
        var e = CudaException.FromDriver("cuMemAlloc_v2", CuResult.OutOfMemory);
        Assert.Contains("cuMemAlloc_v2", e.Message, StringComparison.Ordinal);
        Assert.Contains("CUDA_ERROR_OUT_OF_MEMORY", e.Message, StringComparison.Ordinal);
        Assert.Contains("(2)", e.Message, StringComparison.Ordinal);
        Assert.Equal(CuResult.OutOfMemory, e.DriverResult);
        Assert.Equal("cuMemAlloc_v2", e.Call);
        Assert.Contains("CUDA_ERROR_NO_DEVICE", CudaErrors.Describe(CuResult.NoDevice), StringComparison.Ordinal);
        Assert.Equal("CUDA_ERROR_ILLEGAL_ADDRESS", CudaErrors.FallbackName(CuResult.IllegalAddress));
        Assert.Equal("CUDA_ERROR_12345", CudaErrors.FallbackName((CuResult)12345));
    }

    [Fact]
    public void Cublas_errors_name_the_call_and_the_status()
    {
        var e = CudaException.FromBlas("cublasSgemmStridedBatched", CublasStatus.InvalidValue);
        Assert.Contains("cublasSgemmStridedBatched", e.Message, StringComparison.Ordinal);
        Assert.Contains("CUBLAS_STATUS_INVALID_VALUE (7)", e.Message, StringComparison.Ordinal);
        Assert.Equal(CublasStatus.InvalidValue, e.BlasStatus);
        foreach (var s in Enum.GetValues<CublasStatus>())
            Assert.StartsWith("CUBLAS_STATUS_", CudaErrors.Name(s), StringComparison.Ordinal);
    }

    [Fact]
    public void The_availability_probe_never_throws_and_explains_itself()
    {
        bool available = Cuda.IsAvailable;
        string reason = Cuda.UnavailableReason;
        if (available)
        {
            Assert.Equal("", reason);
            Assert.True(Cuda.DeviceCount > 0);
        }
        else
        {
            Assert.False(string.IsNullOrWhiteSpace(reason));
            Assert.Equal(0, Cuda.DeviceCount);
            // The known ways of having no GPU: no driver library, a driver without a device (a toolkit's
            // user-space driver reports CUDA_ERROR_NO_DEVICE), zero devices, or no cuBLAS.
            Assert.True(
                reason.Contains("not found", StringComparison.Ordinal) || reason.Contains("CUDA_ERROR_NO_DEVICE", StringComparison.Ordinal)
                || reason.Contains("no devices", StringComparison.Ordinal) || reason.Contains("cuInit failed", StringComparison.Ordinal),
                reason);
            Assert.Throws<CudaException>(Cuda.Initialize);
        }
    }
}
