using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Ttt.IO;
using Ttt.Testing;
using Xunit;

namespace Ttt.Tests;

/// <summary>Write then read: every engine dtype and shape comes back bit for bit, and the file layout follows the format.</summary>
public sealed class SafeTensorsRoundTripTests
{
    public static TheoryData<DType, int[]> DTypesAndShapes()
    {
        var data = new TheoryData<DType, int[]>();
        int[][] shapes = [[], [0], [3, 0, 2], [1], [7], [2, 3, 4], [1, 1, 1, 1, 5], [0, 4]];
        foreach (var dtype in new[] { DType.Float32, DType.Float64, DType.Int64 })
            foreach (var shape in shapes)
                data.Add(dtype, shape);
        return data;
    }

    [Theory]
    [MemberData(nameof(DTypesAndShapes))]
    public void EveryDTypeAndShapeRoundTripsBitForBit(DType dtype, int[] shape)
    {
        var tensor = Values(dtype, shape, seed: 1);
        var loaded = RoundTrip(new() { ["t"] = tensor });
        Assert.Single(loaded);
        Assert.Equal(dtype, loaded["t"].DType);
        SafeTensorsReferenceTests.AssertSameBits(tensor, loaded["t"]);
        var entry = Assert.Single(loaded.Entries);
        Assert.Equal(SafeTensorDTypes.FromDType(dtype), entry.DType);
        Assert.Equal(ShapeUtil.Numel(shape) * dtype.SizeOf(), entry.ByteLength);
    }

    [Fact]
    public void SpecialFloatValuesSurviveExactly()
    {
        // NaN payloads, signed zeros, infinities, subnormals and extremes: the writer must copy bits, not values.
        float[] floats = [float.NaN, BitConverter.Int32BitsToSingle(0x7FC0_1234), BitConverter.Int32BitsToSingle(unchecked((int)0xFF80_0001)),
            -0f, 0f, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue, 1e-40f];
        double[] doubles = [double.NaN, BitConverter.Int64BitsToDouble(0x7FF8_0000_DEAD_BEEF), -0d, double.PositiveInfinity,
            double.NegativeInfinity, double.Epsilon, double.MaxValue, double.MinValue, 1e-310];
        long[] longs = [long.MinValue, long.MaxValue, -1, 0, 1];
        var tensors = new Dictionary<string, Tensor>
        {
            ["f"] = Tensor.FromArray(floats),
            ["d"] = Tensor.FromArray(doubles),
            ["l"] = Tensor.FromArray(longs),
        };
        var loaded = RoundTrip(tensors);
        foreach (var (name, tensor) in tensors) SafeTensorsReferenceTests.AssertSameBits(tensor, loaded[name]);
    }

    [Fact]
    public void LargeTensorsRoundTripThroughAFile()
    {
        // 2^22 float32 elements (16 MiB): many writer and reader chunks, and a data section far beyond one buffer.
        using var folder = new TempFolder();
        string path = folder.File("large.safetensors");
        var big = Values(DType.Float32, [1024, 4096], seed: 7);
        var wide = Values(DType.Float64, [3, 100_003], seed: 8);
        SafeTensorFile.Save(path, new Dictionary<string, Tensor> { ["big"] = big, ["wide"] = wide });
        Assert.Equal(8 + RawSafeTensors.HeaderText(File.ReadAllBytes(path)).Length + big.Numel * 4 + wide.Numel * 8, new FileInfo(path).Length);

        using var loaded = SafeTensorFile.Load(path);
        SafeTensorsReferenceTests.AssertSameBits(big, loaded["big"]);
        SafeTensorsReferenceTests.AssertSameBits(wide, loaded["wide"]);
        using var lazy = SafeTensorFile.Open(path);
        SafeTensorsReferenceTests.AssertSameBits(wide, lazy["wide"]);
        Assert.Equal(["big", "wide"], lazy.Keys);
        Assert.Equal(["large.safetensors"], folder.FileNames()); // no temporary file left behind
    }

    [Property(MaxTest = 60)]
    public Property StridedViewsOfRandomShapesRoundTripInRowMajorOrder() =>
        Prop.ForAll(
            Gen.ArrayOf(
                from layout in TensorGen.Case(minRank: 0, maxRank: 4, maxDim: 5, low: -1000, high: 1000, allowExpanded: true)
                from dtype in Gen.Elements(DType.Float32, DType.Float64, DType.Int64)
                select (Layout: layout, DType: dtype)).ToArbitrary(),
            cases =>
            {
                // Permuted, narrowed and broadcast views must be written as their logical row-major elements;
                // AssertSameBits reads the originals through ToArray, which walks the strides.
                var tensors = cases.Select((c, i) => (Name: $"t{i}", Tensor: c.Layout.Build(c.DType)))
                    .ToDictionary(p => p.Name, p => p.Tensor);
                var loaded = RoundTrip(tensors);
                Assert.Equal(tensors.Count, loaded.Count);
                foreach (var (name, tensor) in tensors) SafeTensorsReferenceTests.AssertSameBits(tensor, loaded[name]);
            });

    [Fact]
    public void HeaderIsSortedPaddedAndFollowedByContiguousData()
    {
        var tensors = new Dictionary<string, Tensor>
        {
            ["b"] = Values(DType.Float32, [3], 2),
            ["a"] = Values(DType.Int64, [2, 2], 3),
            ["C"] = Values(DType.Float64, [], 4),
        };
        byte[] file = Bytes(tensors, new Dictionary<string, string> { ["z"] = "1", ["format"] = "pt" });
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.Equal(0UL, headerLength % 8);
        string header = RawSafeTensors.HeaderText(file);
        string json = header.TrimEnd(' ');
        Assert.True(header.Length - json.Length < 8, "padding is shorter than the alignment");

        using var document = JsonDocument.Parse(json);
        var keys = document.RootElement.EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Equal(["__metadata__", "C", "a", "b"], keys); // byte order: upper case sorts before lower case
        Assert.Equal(["format", "z"], document.RootElement.GetProperty("__metadata__").EnumerateObject().Select(p => p.Name));
        long expectedBegin = 0;
        foreach (var name in keys.Skip(1))
        {
            var entry = document.RootElement.GetProperty(name);
            Assert.Equal(["dtype", "shape", "data_offsets"], entry.EnumerateObject().Select(p => p.Name));
            var offsets = entry.GetProperty("data_offsets").EnumerateArray().Select(o => o.GetInt64()).ToArray();
            Assert.Equal(expectedBegin, offsets[0]);
            expectedBegin = offsets[1];
        }
        Assert.Equal(expectedBegin, RawSafeTensors.Data(file).Length);
    }

    [Fact]
    public void OutputDependsOnlyOnNamesAndValuesNotOnInputOrder()
    {
        var pairs = Enumerable.Range(0, 12).Select(i => new KeyValuePair<string, Tensor>($"p{i * 7 % 12}", Values(DType.Float32, [i % 3 + 1], i))).ToList();
        var reversed = Enumerable.Reverse(pairs).ToList();
        Assert.Equal(Bytes(pairs, null), Bytes(reversed, null));
    }

    [Fact]
    public void NamesAreSortedByUtf8BytesAndEscapedAsJson()
    {
        // U+FF61 (UTF-8 EF BD A1) sorts before U+1F600 (F0 9F 98 80) in byte order, although UTF-16 ordinal order,
        // which compares the surrogate D83D with FF61, says the opposite.
        string[] names = ["\U0001F600", "\uFF61", "quote\"back\\slash", "tab\tnew\nline\u0001", "", "é"];
        var tensors = names.Select((n, i) => new KeyValuePair<string, Tensor>(n, Values(DType.Float32, [1], i))).ToList();
        var metadata = new Dictionary<string, string> { ["k\"ey"] = "v\\al\u0002ue\U0001F600" };
        byte[] file = Bytes(tensors, metadata);
        var loaded = SafeTensorFile.Read(file, "names");
        var expectedOrder = names.OrderBy(n => Encoding.UTF8.GetBytes(n), Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b))).ToArray();
        Assert.Equal(expectedOrder, loaded.Keys);
        Assert.True(Array.IndexOf(expectedOrder, "\uFF61") < Array.IndexOf(expectedOrder, "\U0001F600"));
        Assert.Equal(metadata, loaded.Metadata);
        foreach (var (name, tensor) in tensors) SafeTensorsReferenceTests.AssertSameBits(tensor, loaded[name]);
    }

    [Fact]
    public void MetadataAloneAndNothingAtAllAreValidFiles()
    {
        var onlyMetadata = SafeTensorFile.Read(Bytes([], new Dictionary<string, string> { ["a"] = "b" }), "meta-only");
        Assert.Empty(onlyMetadata);
        Assert.Equal("b", onlyMetadata.Metadata["a"]);
        byte[] empty = Bytes([], null);
        Assert.Equal("{}", RawSafeTensors.HeaderText(empty).TrimEnd(' '));
        Assert.Empty(SafeTensorFile.Read(empty, "empty"));
    }

    [Fact]
    public void WriterRejectsNamesItCannotStoreFaithfully()
    {
        var t = Values(DType.Float32, [1], 0);
        Assert.Throws<ArgumentException>(() => Bytes([new("a", t), new("a", t)], null));
        Assert.Throws<ArgumentException>(() => Bytes([new("__metadata__", t)], null));
        Assert.Throws<ArgumentException>(() => Bytes([new("lone\uD800surrogate", t)], null));
        Assert.Throws<ArgumentException>(() => Bytes([new("a", null!)], null));
        Assert.Throws<ArgumentException>(() => Bytes([new("a", t)], new Dictionary<string, string> { ["k"] = "\uDC00" }));
    }

    [Fact]
    public void ReadingANonSeekableStreamGivesTheSameTensors()
    {
        var tensors = new Dictionary<string, Tensor> { ["x"] = Values(DType.Float64, [4, 5], 9), ["y"] = Values(DType.Int64, [3], 10) };
        byte[] file = Bytes(tensors, null);
        using var forwardOnly = new ForwardOnlyStream(file);
        var loaded = SafeTensorFile.Read(forwardOnly, "pipe");
        foreach (var (name, tensor) in tensors) SafeTensorsReferenceTests.AssertSameBits(tensor, loaded[name]);

        using var seekable = new MemoryStream(file);
        var fromSeekable = SafeTensorFile.Read(seekable, "seekable");
        Assert.Equal(file.Length, seekable.Position);
        foreach (var (name, tensor) in tensors) SafeTensorsReferenceTests.AssertSameBits(tensor, fromSeekable[name]);
    }

    [Fact]
    public void LazyFileReadsOnDemandAndKeepsReadTensorsAfterDispose()
    {
        using var folder = new TempFolder();
        string path = folder.File("lazy.safetensors");
        var a = Values(DType.Float32, [2, 3], 11);
        var b = Values(DType.Float32, [5], 12);
        SafeTensorFile.Save(path, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b });
        var lazy = SafeTensorFile.Open(path);
        Assert.Equal(2, lazy.Count);
        Assert.Equal([2, 3], lazy.FindEntry("a")!.ShapeArray());
        var readA = lazy["a"];
        Assert.Same(readA, lazy["a"]); // cached
        lazy.Dispose();
        SafeTensorsReferenceTests.AssertSameBits(a, lazy["a"]);
        Assert.Throws<ObjectDisposedException>(() => lazy["b"]);
        var missing = Assert.Throws<KeyNotFoundException>(() => lazy["nope"]);
        Assert.Contains("'nope'", missing.Message, StringComparison.Ordinal);
        Assert.Contains("lazy.safetensors", missing.Message, StringComparison.Ordinal);
    }

    internal static Tensor Values(DType dtype, int[] shape, int seed)
    {
        var random = new Random(seed);
        long n = ShapeUtil.Numel(shape);
        return dtype switch
        {
            DType.Float32 => Tensor.FromArray(Enumerable.Range(0, (int)n).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray(), shape),
            DType.Float64 => Tensor.FromArray(Enumerable.Range(0, (int)n).Select(_ => random.NextDouble() * 4 - 2).ToArray(), shape),
            _ => Tensor.FromArray(Enumerable.Range(0, (int)n).Select(_ => random.NextInt64(long.MinValue, long.MaxValue)).ToArray(), shape),
        };
    }

    internal static byte[] Bytes(IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        using var stream = new MemoryStream();
        SafeTensorFile.Write(stream, tensors, metadata);
        return stream.ToArray();
    }

    private static SafeTensorFile RoundTrip(Dictionary<string, Tensor> tensors) => SafeTensorFile.Read(Bytes(tensors, null), "round-trip");
}

/// <summary>A read-only stream that cannot seek or tell its length, like a pipe or a network body.</summary>
internal sealed class ForwardOnlyStream(byte[] bytes) : Stream
{
    private int _position;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        // Hand out at most 7 bytes per call so that callers must loop like they would on a real pipe.
        int n = Math.Min(Math.Min(count, 7), bytes.Length - _position);
        Array.Copy(bytes, _position, buffer, offset, n);
        _position += n;
        return n;
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
