using System.Runtime.InteropServices;

namespace Ttt.Cuda.Native;

/// <summary>
/// Bindings to the CUDA driver API (<c>libcuda.so.1</c>). Entry points are the versioned symbols that
/// <c>cuda.h</c> maps the plain names to (<c>cuMemAlloc_v2</c>, <c>cuStreamDestroy_v2</c>, …), which every driver
/// since CUDA 4 exports and later drivers keep. Handles are opaque pointers; device addresses are 64-bit integers.
/// Every call returns a <see cref="CuResult"/>; wrap it in <see cref="Check.Driver"/> to turn failures into a
/// <see cref="CudaException"/> naming the call.
/// </summary>
internal static unsafe partial class CuDriver
{
    private const string Lib = NativeLibraries.DriverImportName;

    static CuDriver() => NativeLibraries.EnsureResolver();

    [LibraryImport(Lib, EntryPoint = "cuInit")]
    internal static partial CuResult Init(uint flags);

    [LibraryImport(Lib, EntryPoint = "cuDriverGetVersion")]
    internal static partial CuResult DriverGetVersion(out int version);

    [LibraryImport(Lib, EntryPoint = "cuDeviceGetCount")]
    internal static partial CuResult DeviceGetCount(out int count);

    [LibraryImport(Lib, EntryPoint = "cuDeviceGet")]
    internal static partial CuResult DeviceGet(out int device, int ordinal);

    [LibraryImport(Lib, EntryPoint = "cuDeviceGetName")]
    internal static partial CuResult DeviceGetName(byte* name, int length, int device);

    [LibraryImport(Lib, EntryPoint = "cuDeviceGetAttribute")]
    internal static partial CuResult DeviceGetAttribute(out int value, CuDeviceAttribute attribute, int device);

    [LibraryImport(Lib, EntryPoint = "cuDeviceTotalMem_v2")]
    internal static partial CuResult DeviceTotalMem(out nuint bytes, int device);

    [LibraryImport(Lib, EntryPoint = "cuDevicePrimaryCtxRetain")]
    internal static partial CuResult DevicePrimaryCtxRetain(out nint context, int device);

    [LibraryImport(Lib, EntryPoint = "cuDevicePrimaryCtxRelease_v2")]
    internal static partial CuResult DevicePrimaryCtxRelease(int device);

    [LibraryImport(Lib, EntryPoint = "cuCtxSetCurrent")]
    internal static partial CuResult CtxSetCurrent(nint context);

    [LibraryImport(Lib, EntryPoint = "cuCtxSynchronize")]
    internal static partial CuResult CtxSynchronize();

    [LibraryImport(Lib, EntryPoint = "cuModuleLoadData")]
    internal static partial CuResult ModuleLoadData(out nint module, byte* image);

    [LibraryImport(Lib, EntryPoint = "cuModuleLoadDataEx")]
    internal static partial CuResult ModuleLoadDataEx(out nint module, byte* image, uint numOptions, CuJitOption* options, nint* optionValues);

    [LibraryImport(Lib, EntryPoint = "cuModuleUnload")]
    internal static partial CuResult ModuleUnload(nint module);

    [LibraryImport(Lib, EntryPoint = "cuModuleGetFunction")]
    internal static partial CuResult ModuleGetFunction(out nint function, nint module, byte* name);

    [LibraryImport(Lib, EntryPoint = "cuLaunchKernel")]
    internal static partial CuResult LaunchKernel(nint function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedMemBytes, nint stream, nint* kernelParams, nint* extra);

    [LibraryImport(Lib, EntryPoint = "cuMemAlloc_v2")]
    internal static partial CuResult MemAlloc(out ulong devicePtr, nuint bytes);

    [LibraryImport(Lib, EntryPoint = "cuMemFree_v2")]
    internal static partial CuResult MemFree(ulong devicePtr);

    [LibraryImport(Lib, EntryPoint = "cuMemGetInfo_v2")]
    internal static partial CuResult MemGetInfo(out nuint free, out nuint total);

    [LibraryImport(Lib, EntryPoint = "cuMemcpyHtoD_v2")]
    internal static partial CuResult MemcpyHtoD(ulong dst, void* src, nuint bytes);

    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoH_v2")]
    internal static partial CuResult MemcpyDtoH(void* dst, ulong src, nuint bytes);

    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoD_v2")]
    internal static partial CuResult MemcpyDtoD(ulong dst, ulong src, nuint bytes);

    [LibraryImport(Lib, EntryPoint = "cuMemcpyHtoDAsync_v2")]
    internal static partial CuResult MemcpyHtoDAsync(ulong dst, void* src, nuint bytes, nint stream);

    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoHAsync_v2")]
    internal static partial CuResult MemcpyDtoHAsync(void* dst, ulong src, nuint bytes, nint stream);

    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoDAsync_v2")]
    internal static partial CuResult MemcpyDtoDAsync(ulong dst, ulong src, nuint bytes, nint stream);

    [LibraryImport(Lib, EntryPoint = "cuMemsetD8_v2")]
    internal static partial CuResult MemsetD8(ulong dst, byte value, nuint count);

    [LibraryImport(Lib, EntryPoint = "cuMemsetD32_v2")]
    internal static partial CuResult MemsetD32(ulong dst, uint value, nuint count);

    [LibraryImport(Lib, EntryPoint = "cuMemsetD8Async")]
    internal static partial CuResult MemsetD8Async(ulong dst, byte value, nuint count, nint stream);

    [LibraryImport(Lib, EntryPoint = "cuMemsetD32Async")]
    internal static partial CuResult MemsetD32Async(ulong dst, uint value, nuint count, nint stream);

    [LibraryImport(Lib, EntryPoint = "cuStreamCreate")]
    internal static partial CuResult StreamCreate(out nint stream, uint flags);

    [LibraryImport(Lib, EntryPoint = "cuStreamDestroy_v2")]
    internal static partial CuResult StreamDestroy(nint stream);

    [LibraryImport(Lib, EntryPoint = "cuStreamSynchronize")]
    internal static partial CuResult StreamSynchronize(nint stream);

    [LibraryImport(Lib, EntryPoint = "cuEventCreate")]
    internal static partial CuResult EventCreate(out nint evt, uint flags);

    [LibraryImport(Lib, EntryPoint = "cuEventRecord")]
    internal static partial CuResult EventRecord(nint evt, nint stream);

    [LibraryImport(Lib, EntryPoint = "cuEventSynchronize")]
    internal static partial CuResult EventSynchronize(nint evt);

    [LibraryImport(Lib, EntryPoint = "cuEventElapsedTime")]
    internal static partial CuResult EventElapsedTime(out float milliseconds, nint start, nint end);

    [LibraryImport(Lib, EntryPoint = "cuEventDestroy_v2")]
    internal static partial CuResult EventDestroy(nint evt);

    [LibraryImport(Lib, EntryPoint = "cuGetErrorName")]
    internal static partial CuResult GetErrorName(CuResult error, out nint name);

    [LibraryImport(Lib, EntryPoint = "cuGetErrorString")]
    internal static partial CuResult GetErrorString(CuResult error, out nint text);
}

/// <summary>CUresult: the status every driver call returns (the codes of <c>cuda.h</c> that Ttt names itself).</summary>
public enum CuResult
{
    /// <summary>CUDA_SUCCESS</summary>
    Success = 0,
    /// <summary>CUDA_ERROR_INVALID_VALUE</summary>
    InvalidValue = 1,
    /// <summary>CUDA_ERROR_OUT_OF_MEMORY</summary>
    OutOfMemory = 2,
    /// <summary>CUDA_ERROR_NOT_INITIALIZED</summary>
    NotInitialized = 3,
    /// <summary>CUDA_ERROR_DEINITIALIZED</summary>
    Deinitialized = 4,
    /// <summary>CUDA_ERROR_STUB_LIBRARY</summary>
    StubLibrary = 34,
    /// <summary>CUDA_ERROR_NO_DEVICE</summary>
    NoDevice = 100,
    /// <summary>CUDA_ERROR_INVALID_DEVICE</summary>
    InvalidDevice = 101,
    /// <summary>CUDA_ERROR_INVALID_IMAGE</summary>
    InvalidImage = 200,
    /// <summary>CUDA_ERROR_INVALID_CONTEXT</summary>
    InvalidContext = 201,
    /// <summary>CUDA_ERROR_NO_BINARY_FOR_GPU</summary>
    NoBinaryForGpu = 209,
    /// <summary>CUDA_ERROR_INVALID_PTX</summary>
    InvalidPtx = 218,
    /// <summary>CUDA_ERROR_UNSUPPORTED_PTX_VERSION</summary>
    UnsupportedPtxVersion = 222,
    /// <summary>CUDA_ERROR_INVALID_HANDLE</summary>
    InvalidHandle = 400,
    /// <summary>CUDA_ERROR_NOT_FOUND</summary>
    NotFound = 500,
    /// <summary>CUDA_ERROR_NOT_READY</summary>
    NotReady = 600,
    /// <summary>CUDA_ERROR_ILLEGAL_ADDRESS</summary>
    IllegalAddress = 700,
    /// <summary>CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES</summary>
    LaunchOutOfResources = 701,
    /// <summary>CUDA_ERROR_LAUNCH_TIMEOUT</summary>
    LaunchTimeout = 702,
    /// <summary>CUDA_ERROR_MISALIGNED_ADDRESS</summary>
    MisalignedAddress = 716,
    /// <summary>CUDA_ERROR_LAUNCH_FAILED</summary>
    LaunchFailed = 719,
    /// <summary>CUDA_ERROR_NOT_SUPPORTED</summary>
    NotSupported = 801,
    /// <summary>CUDA_ERROR_UNKNOWN</summary>
    Unknown = 999,
}

/// <summary>CUdevice_attribute values used by Ttt.</summary>
internal enum CuDeviceAttribute
{
    MaxThreadsPerBlock = 1,
    MaxSharedMemoryPerBlock = 8,
    WarpSize = 10,
    MultiprocessorCount = 16,
    ComputeCapabilityMajor = 75,
    ComputeCapabilityMinor = 76,
}

/// <summary>CUjit_option values passed to cuModuleLoadDataEx.</summary>
internal enum CuJitOption
{
    InfoLogBuffer = 3,
    InfoLogBufferSizeBytes = 4,
    ErrorLogBuffer = 5,
    ErrorLogBufferSizeBytes = 6,
}
