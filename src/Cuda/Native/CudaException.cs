using System.Runtime.InteropServices;

namespace Ttt.Cuda;

using Ttt.Cuda.Native;

/// <summary>
/// A failed CUDA driver or cuBLAS call. The message names the call, the status code, its symbolic name
/// (<c>CUDA_ERROR_OUT_OF_MEMORY</c>, <c>CUBLAS_STATUS_INVALID_VALUE</c>, …) and the driver's description.
/// </summary>
public class CudaException : Exception
{
    /// <summary>Creates an exception with a message.</summary>
    public CudaException(string message) : base(message) { }

    /// <summary>Creates an exception with a message and a cause.</summary>
    public CudaException(string message, Exception inner) : base(message, inner) { }

    /// <summary>Creates an exception with no message.</summary>
    public CudaException() { }

    /// <summary>The driver call that failed (null for cuBLAS and other errors).</summary>
    public string? Call { get; init; }

    /// <summary>The driver status, when a driver call failed.</summary>
    public CuResult? DriverResult { get; init; }

    /// <summary>The cuBLAS status, when a cuBLAS call failed.</summary>
    public CublasStatus? BlasStatus { get; init; }

    /// <summary>The exception for a failed driver call (<paramref name="call"/> is the C name, e.g. cuMemAlloc_v2).</summary>
    public static CudaException FromDriver(string call, CuResult result, string? detail = null) =>
        new($"{call} failed: {CudaErrors.Describe(result)}{(detail is null ? "" : $" ({detail})")}")
        {
            Call = call,
            DriverResult = result,
        };

    /// <summary>The exception for a failed cuBLAS call.</summary>
    public static CudaException FromBlas(string call, CublasStatus status, string? detail = null) =>
        new($"{call} failed: {CudaErrors.Describe(status)}{(detail is null ? "" : $" ({detail})")}")
        {
            Call = call,
            BlasStatus = status,
        };
}

/// <summary>Device memory could not be allocated even after releasing the cache and collecting garbage.</summary>
public sealed class CudaOutOfMemoryException : CudaException
{
    /// <summary>Creates the exception with a message.</summary>
    public CudaOutOfMemoryException(string message) : base(message) { }

    /// <summary>Creates an exception with no message.</summary>
    public CudaOutOfMemoryException() { }

    /// <summary>Creates an exception with a message and a cause.</summary>
    public CudaOutOfMemoryException(string message, Exception inner) : base(message, inner) { }

    /// <summary>Bytes the failed request asked for (after rounding to the allocator's size class).</summary>
    public long RequestedBytes { get; init; }

    /// <summary>Free device memory reported by the driver when the request failed.</summary>
    public long FreeBytes { get; init; }
}

/// <summary>Names and descriptions of CUDA driver and cuBLAS status codes.</summary>
internal static class CudaErrors
{
    /// <summary>"CUDA_ERROR_X (code): description", from the driver when it can tell, else from Ttt's own table.</summary>
    public static string Describe(CuResult result)
    {
        var (name, text) = DriverNames(result);
        name ??= FallbackName(result);
        return text is null ? $"{name} ({(int)result})" : $"{name} ({(int)result}): {text}";
    }

    /// <summary>"CUBLAS_STATUS_X (code): description".</summary>
    public static string Describe(CublasStatus status) => $"{Name(status)} ({(int)status}): {Text(status)}";

    /// <summary>The symbolic name of a driver status from Ttt's table (no driver call).</summary>
    public static string FallbackName(CuResult result) => result switch
    {
        CuResult.Success => "CUDA_SUCCESS",
        CuResult.InvalidValue => "CUDA_ERROR_INVALID_VALUE",
        CuResult.OutOfMemory => "CUDA_ERROR_OUT_OF_MEMORY",
        CuResult.NotInitialized => "CUDA_ERROR_NOT_INITIALIZED",
        CuResult.Deinitialized => "CUDA_ERROR_DEINITIALIZED",
        CuResult.StubLibrary => "CUDA_ERROR_STUB_LIBRARY",
        CuResult.NoDevice => "CUDA_ERROR_NO_DEVICE",
        CuResult.InvalidDevice => "CUDA_ERROR_INVALID_DEVICE",
        CuResult.InvalidImage => "CUDA_ERROR_INVALID_IMAGE",
        CuResult.InvalidContext => "CUDA_ERROR_INVALID_CONTEXT",
        CuResult.NoBinaryForGpu => "CUDA_ERROR_NO_BINARY_FOR_GPU",
        CuResult.InvalidPtx => "CUDA_ERROR_INVALID_PTX",
        CuResult.UnsupportedPtxVersion => "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
        CuResult.InvalidHandle => "CUDA_ERROR_INVALID_HANDLE",
        CuResult.NotFound => "CUDA_ERROR_NOT_FOUND",
        CuResult.NotReady => "CUDA_ERROR_NOT_READY",
        CuResult.IllegalAddress => "CUDA_ERROR_ILLEGAL_ADDRESS",
        CuResult.LaunchOutOfResources => "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
        CuResult.LaunchTimeout => "CUDA_ERROR_LAUNCH_TIMEOUT",
        CuResult.MisalignedAddress => "CUDA_ERROR_MISALIGNED_ADDRESS",
        CuResult.LaunchFailed => "CUDA_ERROR_LAUNCH_FAILED",
        CuResult.NotSupported => "CUDA_ERROR_NOT_SUPPORTED",
        CuResult.Unknown => "CUDA_ERROR_UNKNOWN",
        _ => "CUDA_ERROR_" + (int)result,
    };

    /// <summary>The symbolic name of a cuBLAS status.</summary>
    public static string Name(CublasStatus status) => status switch
    {
        CublasStatus.Success => "CUBLAS_STATUS_SUCCESS",
        CublasStatus.NotInitialized => "CUBLAS_STATUS_NOT_INITIALIZED",
        CublasStatus.AllocFailed => "CUBLAS_STATUS_ALLOC_FAILED",
        CublasStatus.InvalidValue => "CUBLAS_STATUS_INVALID_VALUE",
        CublasStatus.ArchMismatch => "CUBLAS_STATUS_ARCH_MISMATCH",
        CublasStatus.MappingError => "CUBLAS_STATUS_MAPPING_ERROR",
        CublasStatus.ExecutionFailed => "CUBLAS_STATUS_EXECUTION_FAILED",
        CublasStatus.InternalError => "CUBLAS_STATUS_INTERNAL_ERROR",
        CublasStatus.NotSupported => "CUBLAS_STATUS_NOT_SUPPORTED",
        CublasStatus.LicenseError => "CUBLAS_STATUS_LICENSE_ERROR",
        _ => "CUBLAS_STATUS_" + (int)status,
    };

    private static string Text(CublasStatus status) => status switch
    {
        CublasStatus.Success => "the operation completed successfully",
        CublasStatus.NotInitialized => "cuBLAS was not initialized (no handle, or the CUDA runtime failed to start)",
        CublasStatus.AllocFailed => "cuBLAS could not allocate its resources",
        CublasStatus.InvalidValue => "an unsupported value or parameter was passed (sizes, leading dimensions, types)",
        CublasStatus.ArchMismatch => "the function needs a feature this GPU does not have",
        CublasStatus.MappingError => "an access to GPU memory space failed",
        CublasStatus.ExecutionFailed => "the GPU program failed to execute",
        CublasStatus.InternalError => "an internal cuBLAS operation failed",
        CublasStatus.NotSupported => "the functionality requested is not supported",
        CublasStatus.LicenseError => "license error",
        _ => "unknown cuBLAS status",
    };

    /// <summary>Asks the driver for the name and description (null where the driver is missing or does not know).</summary>
    private static (string? Name, string? Text) DriverNames(CuResult result)
    {
        try
        {
            string? name = null, text = null;
            if (CuDriver.GetErrorName(result, out var n) == CuResult.Success && n != 0) name = Marshal.PtrToStringUTF8(n);
            if (CuDriver.GetErrorString(result, out var t) == CuResult.Success && t != 0) text = Marshal.PtrToStringUTF8(t);
            return (name, text);
        }
        catch (DllNotFoundException)
        {
            return (null, null);
        }
        catch (EntryPointNotFoundException)
        {
            return (null, null);
        }
    }
}

/// <summary>Turns status codes into exceptions.</summary>
internal static class Check
{
    /// <summary>Throws a <see cref="CudaException"/> naming <paramref name="call"/> unless the driver call succeeded.</summary>
    public static void Driver(CuResult result, string call)
    {
        if (result != CuResult.Success) throw CudaException.FromDriver(call, result);
    }

    /// <summary>Throws a <see cref="CudaException"/> naming <paramref name="call"/> unless the cuBLAS call succeeded.</summary>
    public static void Blas(CublasStatus status, string call)
    {
        if (status != CublasStatus.Success) throw CudaException.FromBlas(call, status);
    }
}
