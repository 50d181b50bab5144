using System.Text;
using Ttt.IO;
using Xunit;

namespace Ttt.Tests;

/// <summary>Atomic writes: the destination holds either the old content or the complete new one, never a mix or a leftover.</summary>
public sealed class AtomicFileTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData("model.safetensors")]
    [InlineData(".lock")]
    [InlineData(".tmp")]
    [InlineData("..0123456789abcdef.tmp")]
    [InlineData(".x.0123456789abcde.tmp")]
    [InlineData(".x.0123456789abcdeg.tmp")]
    [InlineData(".x.0123456789ABCDEF.tmp")]
    [InlineData("x.0123456789abcdef.tmp")]
    [InlineData(".x-0123456789abcdef.tmp")]
    public void OtherNamesAreNotTemporaryNames(string name) => Assert.False(AtomicFile.IsTemporaryName(name));

    [Fact]
    public void WritesTheContentAndLeavesOnlyTheDestination()
    {
        string path = _folder.File("out.bin");
        AtomicFile.Write(path, s => s.Write([1, 2, 3]));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
        Assert.Equal(["out.bin"], _folder.FileNames());
    }

    [Fact]
    public void ContentGoesToATemporaryFileInTheSameFolderUntilTheEnd()
    {
        string path = _folder.File("out.bin");
        File.WriteAllBytes(path, [9]);
        AtomicFile.Write(path, s =>
        {
            s.Write([1, 2]);
            // Mid-write the destination still holds the old content and a hidden temporary sibling exists (same
            // folder, hence same file system, which is what makes the final rename atomic).
            Assert.Equal([9], File.ReadAllBytes(path));
            var temp = Assert.Single(_folder.FileNames(), n => n != "out.bin");
            Assert.StartsWith(".out.bin.", temp, StringComparison.Ordinal);
            Assert.EndsWith(".tmp", temp, StringComparison.Ordinal);
            Assert.True(AtomicFile.IsTemporaryName(temp), temp); // what a cleanup after a kill recognizes
        });
        Assert.Equal([1, 2], File.ReadAllBytes(path));
        Assert.Equal(["out.bin"], _folder.FileNames());
    }

    [Fact]
    public void AWriterThatThrowsMidwayLeavesTheOldFileIntactAndNoTemporaryFile()
    {
        string path = _folder.File("model.safetensors");
        var original = new Dictionary<string, Tensor> { ["w"] = Tensor.FromArray([1f, 2f, 3f]) };
        SafeTensorFile.Save(path, original);
        byte[] before = File.ReadAllBytes(path);

        var boom = new IOException("disk full (simulated)");
        byte[] replacement = SafeTensorsRoundTripTests.Bytes(new Dictionary<string, Tensor> { ["w"] = Tensor.FromArray(new float[1000]) }, null);
        var thrown = Assert.Throws<IOException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(replacement.AsSpan(0, replacement.Length / 2));
            s.Flush();
            throw boom;
        }));

        Assert.Same(boom, thrown);
        Assert.Equal(before, File.ReadAllBytes(path));
        using var stillValid = SafeTensorFile.Load(path);
        Assert.Equal([1f, 2f, 3f], stillValid["w"].ToFloatArray());
        Assert.Equal(["model.safetensors"], _folder.FileNames());
    }

    [Fact]
    public void AFailedFirstWriteCreatesNothing()
    {
        string path = _folder.File("new.bin");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[100_000]);
            throw new InvalidOperationException("stop");
        }));
        Assert.Empty(_folder.FileNames());
    }

    [Fact]
    public void AWriterThatClosesTheStreamIsAnErrorBecauseTheDataCouldNotBeFlushedToDisk()
    {
        string path = _folder.File("out.bin");
        File.WriteAllBytes(path, [7]);
        var error = Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write([1]);
            s.Dispose();
        }));
        Assert.Contains("closed the stream", error.Message, StringComparison.Ordinal);
        Assert.Equal([7], File.ReadAllBytes(path));
        Assert.Equal(["out.bin"], _folder.FileNames());
    }

    [Fact]
    public void AMissingFolderFailsWithoutCreatingAnything()
    {
        string path = Path.Combine(_folder.Path, "no-such-folder", "out.bin");
        Assert.Throws<DirectoryNotFoundException>(() => AtomicFile.Write(path, s => s.Write([1])));
        Assert.Empty(Directory.GetFileSystemEntries(_folder.Path));
    }

    [Fact]
    public void SaveChecksItsArgumentsBeforeTouchingTheFolder()
    {
        string path = _folder.File("model.safetensors");
        SafeTensorFile.Save(path, new Dictionary<string, Tensor> { ["w"] = Tensor.FromArray([1f]) });
        byte[] before = File.ReadAllBytes(path);
        var t = Tensor.FromArray([2f]);
        Assert.Throws<ArgumentException>(() => SafeTensorFile.Save(path, [new("a", t), new("a", t)]));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["model.safetensors"], _folder.FileNames());
    }

    [Fact]
    public void SaveReplacesAnExistingFileWithTheNewTensors()
    {
        string path = _folder.File("model.safetensors");
        SafeTensorFile.Save(path, new Dictionary<string, Tensor> { ["old"] = Tensor.FromArray([1f]) });
        SafeTensorFile.Save(path, new Dictionary<string, Tensor> { ["new"] = Tensor.FromArray([2.0, 3.0]) }, new Dictionary<string, string> { ["step"] = "2" });
        using var loaded = SafeTensorFile.Load(path);
        Assert.Equal(["new"], loaded.Keys);
        Assert.Equal([2.0, 3.0], loaded["new"].ToDoubleArray());
        Assert.Equal("2", loaded.Metadata["step"]);
        Assert.Equal(["model.safetensors"], _folder.FileNames());
    }

    [Fact]
    public void AnOpenLazyReaderKeepsReadingTheOldFileAfterAnAtomicReplace()
    {
        // POSIX rename swaps the directory entry; an open handle keeps the old inode, so a reader never sees a
        // mix of old header and new data. (Windows refuses to replace a file that is open without delete sharing.)
        Assert.SkipUnless(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "rename over an open file is POSIX behaviour");
        string path = _folder.File("model.safetensors");
        SafeTensorFile.Save(path, new Dictionary<string, Tensor> { ["a"] = Tensor.FromArray([1f, 2f]), ["b"] = Tensor.FromArray([3f]) });
        using var lazy = SafeTensorFile.Open(path);
        SafeTensorFile.Save(path, new Dictionary<string, Tensor> { ["a"] = Tensor.FromArray(new float[500]), ["b"] = Tensor.FromArray([9f, 9f]) });
        Assert.Equal([3f], lazy["b"].ToFloatArray());
        Assert.Equal([1f, 2f], lazy["a"].ToFloatArray());
        using var fresh = SafeTensorFile.Load(path);
        Assert.Equal([9f, 9f], fresh["b"].ToFloatArray());
    }

    [Fact]
    public void TextAndBytesHelpersWriteExactly()
    {
        string text = _folder.File("config.json");
        AtomicFile.WriteAllText(text, "{\"é\": 1}\n");
        Assert.Equal(Encoding.UTF8.GetBytes("{\"é\": 1}\n"), File.ReadAllBytes(text)); // UTF-8 without a byte-order mark
        string bytes = _folder.File("blob.bin");
        AtomicFile.WriteAllBytes(bytes, [0, 255, 7]);
        Assert.Equal([0, 255, 7], File.ReadAllBytes(bytes));
        Assert.Equal(["blob.bin", "config.json"], _folder.FileNames());
    }
}
