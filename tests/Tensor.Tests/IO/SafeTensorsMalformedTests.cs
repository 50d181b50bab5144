using System.Buffers.Binary;
using System.Text;
using Ttt.IO;
using Xunit;

namespace Ttt.Tests;

/// <summary>
/// Each way a safetensors file can be malformed gives one <see cref="SafeTensorsFormatException"/> that names the
/// source and states the specific problem; the same message comes from bytes, a forward-only stream and a file.
/// </summary>
public sealed class SafeTensorsMalformedTests
{
    private const string Source = "model.safetensors";

    private sealed record Case(byte[] Bytes, string Fragment, string? Tensor = null);

    private static readonly Dictionary<string, Case> Cases = BuildCases();

    public static TheoryData<string> CaseNames() => new(Cases.Keys);

    private static string E(string name, string dtype, int[] shape, long begin, long end) => RawSafeTensors.Entry(name, dtype, shape, begin, end);

    private static string H(params string[] entries) => RawSafeTensors.Header(entries);

    private static byte[] F(string header, int dataBytes = 0) => RawSafeTensors.Build(header, new byte[dataBytes]);

    private static byte[] Prefixed(ulong headerLength, byte[] rest)
    {
        var file = new byte[8 + rest.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, headerLength);
        rest.CopyTo(file, 8);
        return file;
    }

    private static Dictionary<string, Case> BuildCases()
    {
        string ok = E("a", "F32", [2], 0, 8);
        byte[] valid = F(H(ok), 8);
        return new Dictionary<string, Case>
        {
            // Length prefix
            ["empty file"] = new([], "the file holds 0 bytes, fewer than the 8-byte header length"),
            ["seven bytes"] = new(new byte[7], "the file holds 7 bytes, fewer than the 8-byte header length"),
            ["header longer than file"] = new(Prefixed(100, new byte[20]), "the header length 100 is larger than the 20 bytes that follow it (file size 28)"),
            ["header length 2^64-1"] = new(Prefixed(ulong.MaxValue, Encoding.ASCII.GetBytes("{}      ")), "the header length 18446744073709551615 is larger than the 8 bytes"),
            ["header length 0"] = new(Prefixed(0, []), "the header length is 0"),

            // Header text
            ["not an object"] = new(F("[1, 2]"), "the header starts with byte 0x5B, not '{'"),
            ["byte order mark"] = new(F("\uFEFF{}"), "the header starts with byte 0xEF, not '{'"),
            ["invalid UTF-8"] = new(RawSafeTensors.BuildRaw([.. "{\"a"u8, 0xFF, .. "\":1}"u8], []), "the header is not valid UTF-8 (byte 0xFF at header offset 3"),
            ["overlong UTF-8"] = new(RawSafeTensors.BuildRaw([.. "{\""u8, 0xC0, 0xAF, .. "\":1}"u8], []), "the header is not valid UTF-8 (byte 0xC0 at header offset 2"),
            ["truncated JSON"] = new(F("{\"a\":{\"dtype\":\"F32\""), "the header is not valid JSON"),
            ["trailing garbage"] = new(F("{} x"), "the header is not valid JSON"),
            ["NUL padding"] = new(RawSafeTensors.BuildRaw([.. "{}"u8, 0, 0, 0, 0, 0, 0], [], pad: false), "the header is not valid JSON"),
            ["comment"] = new(F("{/* c */}"), "the header is not valid JSON"),
            ["trailing comma"] = new(F("{\"__metadata__\":{},}"), "the header is not valid JSON"),
            ["deep nesting"] = new(F("{\"a\":" + new string('[', 40) + new string(']', 40) + "}"), "the header is not valid JSON"),

            // Entries
            ["entry is a number"] = new(F("{\"a\":5}"), "tensor 'a' is described by a JSON number, not an object", "a"),
            ["entry is an array"] = new(F("{\"a\":[]}"), "tensor 'a' is described by a JSON array", "a"),
            ["missing dtype"] = new(F("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "tensor 'a' lacks the 'dtype' field", "a"),
            ["missing shape"] = new(F("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8), "tensor 'a' lacks the 'shape' field", "a"),
            ["missing data_offsets"] = new(F("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8), "tensor 'a' lacks the 'data_offsets' field", "a"),
            ["unexpected field"] = new(F("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"stride\":[1]}}", 8), "tensor 'a' has an unexpected field 'stride'", "a"),
            ["duplicate field"] = new(F("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "tensor 'a' has the field 'dtype' twice", "a"),

            // dtype
            ["lower-case dtype"] = new(F(H(E("a", "f32", [2], 0, 8)), 8), "tensor 'a' has unknown dtype 'f32'", "a"),
            ["unknown dtype"] = new(F(H(E("a", "Q7", [2], 0, 8)), 8), "tensor 'a' has unknown dtype 'Q7' (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U32, U16, U8, BOOL", "a"),
            ["U64 dtype"] = new(F(H(E("a", "U64", [1], 0, 8)), 8), "tensor 'a' has dtype 'U64', which this reader does not support", "a"),
            ["FP8 dtype"] = new(F(H(E("a", "F8_E4M3", [8], 0, 8)), 8), "tensor 'a' has dtype 'F8_E4M3', which this reader does not support", "a"),
            ["dtype is a number"] = new(F("{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "tensor 'a': 'dtype' is a JSON number, not a string", "a"),

            // shape
            ["shape is a number"] = new(F("{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8), "tensor 'a': 'shape' is a JSON number, not an array", "a"),
            ["negative dim"] = new(F("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,8]}}", 8), "dimension 1 of tensor 'a' is negative (-1)", "a"),
            ["fractional dim"] = new(F("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8), "dimension 0 of tensor 'a' is 2.5, not an integer", "a"),
            ["exponent dim"] = new(F("{\"a\":{\"dtype\":\"F32\",\"shape\":[2e0],\"data_offsets\":[0,8]}}", 8), "dimension 0 of tensor 'a' is 2e0, not an integer", "a"),
            ["string dim"] = new(F("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8), "dimension 0 of tensor 'a' is a JSON string, not an integer", "a"),
            ["null dim"] = new(F("{\"a\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,8]}}", 8), "dimension 0 of tensor 'a' is a JSON null, not an integer", "a"),
            ["dim beyond int32"] = new(F("{\"a\":{\"dtype\":\"U8\",\"shape\":[3000000000],\"data_offsets\":[0,8]}}", 8), "dimension 0 of tensor 'a' is 3000000000, larger than the largest dimension this engine supports (2147483647)", "a"),
            ["dim beyond int64"] = new(F("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8), "dimension 0 of tensor 'a' is 99999999999999999999, too large for a 64-bit size", "a"),
            ["huge negative dim"] = new(F("{\"a\":{\"dtype\":\"F32\",\"shape\":[-99999999999999999999],\"data_offsets\":[0,8]}}", 8), "dimension 0 of tensor 'a' is negative (-99999999999999999999)", "a"),
            ["element count overflow"] = new(F(H(E("a", "U8", [int.MaxValue, int.MaxValue, int.MaxValue], 0, 8)), 8), "tensor 'a' has shape [2147483647, 2147483647, 2147483647], whose element count overflows a 64-bit integer", "a"),
            ["byte count overflow"] = new(F(H(E("a", "F64", [int.MaxValue, int.MaxValue, 2], 0, 8)), 8), "tensor 'a' has shape [2147483647, 2147483647, 2] (9223372028264841218 elements), whose size in bytes as F64 overflows a 64-bit integer", "a"),
            ["size mismatch"] = new(F(H(E("lm_head.weight", "F32", [128, 64], 0, 1024)), 1024),
                "tensor 'lm_head.weight' declares shape [128, 64] (8192 elements = 32768 bytes as F32) but its byte range [0, 1024) holds 1024 bytes", "lm_head.weight"),
            ["empty shape but one element's bytes missing"] = new(F(H(E("a", "F64", [], 0, 0))), "tensor 'a' declares shape [] (1 element = 8 bytes as F64) but its byte range [0, 0) holds 0 bytes", "a"),

            // data_offsets
            ["offsets not an array"] = new(F("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":\"0-8\"}}", 8), "tensor 'a': 'data_offsets' is a JSON string, not an array [begin, end]", "a"),
            ["three offsets"] = new(F("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}}", 8), "tensor 'a': 'data_offsets' has 3 values; it must be [begin, end]", "a"),
            ["negative offset"] = new(F("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8), "the begin offset of tensor 'a' is negative (-8)", "a"),
            ["fractional offset"] = new(F("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.0]}}", 8), "the end offset of tensor 'a' is 8.0, not an integer", "a"),
            ["offset beyond int64"] = new(F("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,18446744073709551624]}}", 8), "the end offset of tensor 'a' is 18446744073709551624, too large for a 64-bit size", "a"),
            ["begin after end"] = new(F(H(E("a", "F32", [1], 8, 4)), 8), "tensor 'a': data_offsets [8, 4] has its begin after its end", "a"),
            ["end beyond data"] = new(F(H(E("a", "F32", [4], 0, 16)), 8), "tensor 'a': byte range [0, 16) lies outside the data section, which holds 8 bytes", "a"),
            ["truncated data"] = new(valid[..^1], "tensor 'a': byte range [0, 8) lies outside the data section, which holds 7 bytes", "a"),

            // Coverage of the data section
            ["overlap"] = new(F(H(E("a", "F32", [2], 0, 8), E("b", "F32", [2], 4, 12)), 12), "tensors 'a' (bytes [0, 8)) and 'b' (bytes [4, 12)) overlap", "b"),
            ["same range twice"] = new(F(H(E("a", "F32", [2], 0, 8), E("b", "I32", [2], 0, 8)), 8), "tensors 'a' (bytes [0, 8)) and 'b' (bytes [0, 8)) overlap", "b"),
            ["empty tensor inside another"] = new(F(H(E("a", "F32", [2], 0, 8), E("e", "F32", [0], 4, 4)), 8), "tensors 'a' (bytes [0, 8)) and 'e' (bytes [4, 4)) overlap", "e"),
            ["gap between tensors"] = new(F(H(E("a", "F32", [1], 0, 4), E("b", "F32", [1], 8, 12)), 12), "bytes [4, 8) of the data section, between tensors 'a' and 'b', belong to no tensor", "b"),
            ["gap at start"] = new(F(H(E("a", "F32", [1], 4, 8)), 8), "bytes [0, 4) of the data section belong to no tensor (the first tensor, 'a', starts at byte 4)", "a"),
            ["trailing bytes"] = new(F(H(E("a", "F32", [1], 0, 4)), 6), "the last 2 bytes of the data section (bytes [4, 6)) belong to no tensor", null),
            ["data but no tensors"] = new(F("{}", 3), "the header lists no tensors but 3 data bytes follow it", null),

            // Names and metadata
            ["duplicate name"] = new(F(H(E("a", "F32", [1], 0, 4), E("a", "F32", [1], 4, 8)), 8), "tensor 'a' appears twice in the header (duplicate JSON key)", "a"),
            ["duplicate name through an escape"] = new(F(H(E("a", "F32", [1], 0, 4), E("\\u0061", "F32", [1], 4, 8)), 8), "tensor 'a' appears twice in the header (duplicate JSON key)", "a"),
            ["duplicate metadata"] = new(F("{\"__metadata__\":{},\"__metadata__\":{}}"), "'__metadata__' appears twice in the header"),
            ["metadata not an object"] = new(F("{\"__metadata__\":[]}"), "'__metadata__' is a JSON array, not an object mapping strings to strings"),
            ["metadata value not a string"] = new(F("{\"__metadata__\":{\"format\":1}}"), "'__metadata__' entry 'format' is a JSON number; metadata values must be strings"),
            ["metadata duplicate key"] = new(F("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}"), "'__metadata__' has the key 'k' twice"),
            ["lone surrogate in a name"] = new(F(H(E("\\ud800", "F32", [1], 0, 4)), 4), "a key of the header is not a valid string"),
        };
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void MalformedBytesGiveOneSpecificError(string name)
    {
        var c = Cases[name];
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorFile.Read(c.Bytes, Source));
        Assert.StartsWith(Source + ": ", error.Message, StringComparison.Ordinal);
        Assert.Contains(c.Fragment, error.Message, StringComparison.Ordinal);
        Assert.Equal(Source, error.SourceName);
        Assert.Equal(c.Tensor, error.TensorName);
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void StreamsAndFilesReportTheSameError(string name)
    {
        var c = Cases[name];
        string expected = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorFile.Read(c.Bytes, Source)).Message;

        using var pipe = new ForwardOnlyStream(c.Bytes);
        Assert.Equal(expected, Assert.Throws<SafeTensorsFormatException>(() => SafeTensorFile.Read(pipe, Source)).Message);
        using var seekable = new MemoryStream(c.Bytes);
        Assert.Equal(expected, Assert.Throws<SafeTensorsFormatException>(() => SafeTensorFile.Read(seekable, Source)).Message);

        // Files are named by the path the caller gave, so that "model.safetensors" of one case folder is told
        // apart from another's; the problem text is the same.
        using var folder = new TempFolder();
        string path = folder.File(Source);
        File.WriteAllBytes(path, c.Bytes);
        var fromLoad = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorFile.Load(path));
        Assert.Equal($"{path}: {expected[(Source.Length + 2)..]}", fromLoad.Message);
        Assert.Equal(path, fromLoad.SourceName);
        // Open validates the whole header before returning, so a lazy reader fails just as early.
        Assert.Equal(fromLoad.Message, Assert.Throws<SafeTensorsFormatException>(() => SafeTensorFile.Open(path)).Message);
    }

    [Fact]
    public void SizeMismatchMessageReadsInFull()
    {
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorFile.Read(Cases["size mismatch"].Bytes, Source));
        Assert.Equal("model.safetensors: tensor 'lm_head.weight' declares shape [128, 64] (8192 elements = 32768 bytes as F32) but its byte range [0, 1024) holds 1024 bytes", error.Message);
    }

    [Fact]
    public void AbsurdHeaderLengthIsRejectedWithoutAllocatingIt()
    {
        // A 1 GiB "file" (never materialised) whose prefix claims a 200 MB header: within the file, beyond the limit.
        using var huge = new SparseStream(1L << 30, prefix: BitConverter.GetBytes(200_000_000UL));
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorFile.Read(huge, "huge.safetensors"));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("the header length 200000000 exceeds the 100000000-byte limit", error.Message, StringComparison.Ordinal);
        Assert.True(allocated < 1 << 20, $"allocated {allocated} bytes to reject the header");
    }

    [Fact]
    public void HugeDeclaredTensorInASmallFileAllocatesNothingBig()
    {
        // The header claims a 4 GB tensor; the checks reject it before any tensor memory exists.
        byte[] file = F(H(E("big", "F32", [1 << 30], 0, 1L << 32)), 16);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorFile.Read(file, Source));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
        Assert.Contains("byte range [0, 4294967296) lies outside the data section, which holds 16 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFileThatShrinksAfterOpeningIsReportedWhenRead()
    {
        using var folder = new TempFolder();
        string path = folder.File(Source);
        SafeTensorFile.Save(path, new Dictionary<string, Tensor> { ["a"] = Tensor.FromArray(new float[64]) });
        using var lazy = SafeTensorFile.Open(path);
        using (var truncate = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
            truncate.SetLength(new FileInfo(path).Length - 10);
        var error = Assert.Throws<SafeTensorsFormatException>(() => lazy["a"]);
        Assert.Contains("it changed while being read", error.Message, StringComparison.Ordinal);
    }
}

/// <summary>A seekable stream of a given length that holds <c>prefix</c> followed by zeros, without storing them.</summary>
internal sealed class SparseStream(long length, byte[] prefix) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => length;
    public override long Position { get; set; }

    public override int Read(byte[] buffer, int offset, int count)
    {
        int n = (int)Math.Clamp(length - Position, 0, count);
        for (int i = 0; i < n; i++)
        {
            long at = Position + i;
            buffer[offset + i] = at < prefix.Length ? prefix[at] : (byte)0;
        }
        Position += n;
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => Position + offset,
        _ => length + offset,
    };

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
