using Ttt.Models;

namespace Ttt.Tests;

/// <summary>config.json of the Transformer baseline: round trip, presets, validation errors.</summary>
public class TransformerConfigTests
{
    [Fact]
    public void Json_round_trip_keeps_every_field_and_unknown_ones()
    {
        var config = new TransformerConfig
        {
            VocabSize = 50257,
            HiddenSize = 96,
            IntermediateSize = 200,
            NumHiddenLayers = 3,
            NumAttentionHeads = 6,
            RmsNormEps = 1e-5,
            RopeTheta = 500000,
            TieWordEmbeddings = false,
            InitializerRange = 0.01,
            MaxPositionEmbeddings = 4096,
            BosTokenId = null,
            EosTokenId = 50256,
            PadTokenId = 7,
        };
        config.Extra["torch_dtype"] = "float32";
        var json = config.ToJson();
        var back = TransformerConfig.Parse(json);
        Assert.Equal(50257, back.VocabSize);
        Assert.Equal(96, back.HiddenSize);
        Assert.Equal(200, back.IntermediateSize);
        Assert.Equal(3, back.NumHiddenLayers);
        Assert.Equal(6, back.NumAttentionHeads);
        Assert.Equal(16, back.HeadDim);
        Assert.Equal(1e-5, back.RmsNormEps);
        Assert.Equal(500000, back.RopeTheta);
        Assert.False(back.TieWordEmbeddings);
        Assert.Equal(0.01, back.InitializerRange);
        Assert.Equal(4096, back.MaxPositionEmbeddings);
        Assert.Null(back.BosTokenId);
        Assert.Equal(50256, back.EosTokenId);
        Assert.Equal(7, back.PadTokenId);
        Assert.Equal("float32", back.Extra["torch_dtype"]!.GetValue<string>());
        Assert.Equal(json, back.ToJson());
        var obj = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        Assert.Equal("transformer", obj["model_type"]!.GetValue<string>());
        Assert.Equal(6, obj["num_key_value_heads"]!.GetValue<int>());
    }

    [Fact]
    public void A_llama_style_file_with_the_defaults_of_unsupported_options_parses()
    {
        const string json = """
            { "model_type": "transformer", "vocab_size": 100, "hidden_size": 32, "intermediate_size": 64,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4, "attention_bias": false,
              "mlp_bias": false, "rope_scaling": null, "hidden_act": "silu", "rms_norm_eps": 1e-6, "rope_theta": 10000.0 }
            """;
        var config = TransformerConfig.Parse(json);
        Assert.Equal(8, config.HeadDim);
        Assert.Equal(1e-6, config.RmsNormEps);
    }

    [Fact]
    public void Load_reads_a_file_and_names_it_in_errors()
    {
        var dir = Directory.CreateTempSubdirectory("ttt-transformer-config");
        try
        {
            var path = Path.Combine(dir.FullName, "config.json");
            File.WriteAllText(path, TransformerConfig.Preset("tiny").ToJson());
            Assert.Equal(64, TransformerConfig.Load(path).HiddenSize);
            File.WriteAllText(path, """{ "hidden_size": 65, "num_attention_heads": 4 }""");
            var e = Assert.Throws<InvalidDataException>(() => TransformerConfig.Load(path));
            Assert.Contains(path, e.Message, StringComparison.Ordinal);
            Assert.Throws<FileNotFoundException>(() => TransformerConfig.Load(Path.Combine(dir.FullName, "missing.json")));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("""{ "hidden_size": 65, "num_attention_heads": 4 }""", "not divisible")]
    [InlineData("""{ "hidden_size": 12, "num_attention_heads": 4 }""", "must be even")]
    [InlineData("""{ "hidden_act": "gelu" }""", "hidden_act")]
    [InlineData("""{ "vocab_size": 0 }""", "vocab_size must be positive")]
    [InlineData("""{ "num_hidden_layers": -1 }""", "num_hidden_layers must be positive")]
    [InlineData("""{ "rope_theta": 0 }""", "rope_theta must be positive")]
    [InlineData("""{ "rms_norm_eps": -1e-6 }""", "rms_norm_eps must be positive")]
    [InlineData("""{ "initializer_range": -0.02 }""", "initializer_range")]
    [InlineData("""{ "max_position_embeddings": 0 }""", "max_position_embeddings must be positive")]
    [InlineData("""{ "model_type": "ttt" }""", "model_type")]
    [InlineData("""{ "num_attention_heads": 32, "num_key_value_heads": 8 }""", "grouped-query attention")]
    [InlineData("""{ "attention_bias": true }""", "attention_bias")]
    [InlineData("""{ "mlp_bias": true }""", "mlp_bias")]
    [InlineData("""{ "rope_scaling": { "type": "linear", "factor": 2.0 } }""", "rope_scaling")]
    [InlineData("""{ "hidden_size": "wide" }""", "\"hidden_size\" has an invalid value")]
    [InlineData("""{ "vocab_size": null }""", "\"vocab_size\" has an invalid value null")]
    [InlineData("""{ "hidden_size": 64, }""", "not valid JSON")]
    [InlineData("""[1, 2]""", "JSON object")]
    public void Invalid_configs_are_rejected_with_a_message_naming_the_problem(string json, string fragment)
    {
        var e = Assert.Throws<InvalidDataException>(() => TransformerConfig.Parse(json, "my/config.json"));
        Assert.Contains(fragment, e.Message, StringComparison.Ordinal);
        Assert.StartsWith("my/config.json", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    // name, D, L, H, F and the parameter count with V = 32000 and a tied head from spec §2.4 ("Transformer" column,
    // in millions, rounded to 0.1M)
    [InlineData("125m", 768, 12, 12, 2048, 109.5)]
    [InlineData("350m", 1024, 24, 16, 2736, 335.2)]
    [InlineData("760m", 1536, 24, 16, 4096, 728.7)]
    [InlineData("1.3b", 2048, 24, 32, 5504, 1279.9)]
    [InlineData("1B", 2048, 24, 32, 5504, 1279.9)]
    public void Paper_presets_have_the_sizes_and_parameter_counts_of_the_spec(string name, int d, int layers, int heads, int ffn, double millions)
    {
        var c = TransformerConfig.Preset(name);
        Assert.Equal((d, layers, heads, ffn, 32000), (c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize, c.VocabSize));
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(10000, c.RopeTheta);
        Assert.Equal(1e-6, c.RmsNormEps);
        Assert.Equal(0.02, c.InitializerRange);
        Assert.Equal(millions, Math.Round(c.ParameterCount() / 1e6, 1));
    }

    [Fact]
    public void Smoke_test_presets_have_the_ttt_smoke_test_shapes()
    {
        var tiny = TransformerConfig.Preset("tiny", vocabSize: 256);
        Assert.Equal((64, 2, 4, 128, 256), (tiny.HiddenSize, tiny.NumHiddenLayers, tiny.NumAttentionHeads, tiny.IntermediateSize, tiny.VocabSize));
        var small = TransformerConfig.Preset("Small");
        Assert.Equal((128, 4, 4, 256), (small.HiddenSize, small.NumHiddenLayers, small.NumAttentionHeads, small.IntermediateSize));
        Assert.Equal(["tiny", "small", "125m", "350m", "760m", "1.3b"], TransformerConfig.PresetNames);
        foreach (var name in TransformerConfig.PresetNames) TransformerConfig.Preset(name).Validate();
        var e = Assert.Throws<ArgumentException>(() => TransformerConfig.Preset("7b"));
        Assert.Contains("tiny, small, 125m", e.Message, StringComparison.Ordinal);
    }
}
