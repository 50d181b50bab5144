using System.Text.Json.Nodes;
using Ttt.Models;

namespace Ttt.Tests.Baselines;

/// <summary>config.json of the Mamba model: round trip, mamba_ssm's layout, validation errors, presets.</summary>
public class MambaConfigTests
{
    [Fact]
    public void Round_trip_keeps_every_field_and_unknown_ones()
    {
        var config = new MambaConfig
        {
            DModel = 96, NLayer = 5, VocabSize = 1000, DState = 8, DConv = 3, Expand = 3, DtRank = 7, RmsNorm = false,
            NormEpsilon = 1e-6, TieEmbeddings = false, DtMin = 0.002, DtMax = 0.2, DtInitFloor = 1e-3,
            PadVocabSizeMultiple = 16, InitializerRange = 0.01,
        };
        config.Extra["residual_in_fp32"] = true;
        var json = config.ToJson();
        var back = MambaConfig.Parse(json);
        Assert.Equal(json, back.ToJson());
        Assert.Equal((96, 5, 1000, 8, 3, 3, 7, false, 1e-6, false), (back.DModel, back.NLayer, back.VocabSize, back.DState, back.DConv, back.Expand, back.DtRank, back.RmsNorm, back.NormEpsilon, back.TieEmbeddings));
        Assert.Equal((0.002, 0.2, 1e-3, 16, 0.01), (back.DtMin, back.DtMax, back.DtInitFloor, back.PadVocabSizeMultiple, back.InitializerRange));
        Assert.True(back.Extra["residual_in_fp32"]!.GetValue<bool>());
        var obj = JsonNode.Parse(json)!.AsObject();
        Assert.Equal("mamba", obj["model_type"]!.GetValue<string>());
        Assert.Equal(1008, back.PaddedVocabSize);
    }

    [Fact]
    public void Defaults_are_those_of_mamba_ssm_and_dt_rank_auto_round_trips()
    {
        var config = MambaConfig.Parse("""{ "model_type": "mamba", "d_model": 100, "n_layer": 2, "vocab_size": 10 }""");
        Assert.Equal((16, 4, 2, true, 1e-5, true), (config.DState, config.DConv, config.Expand, config.RmsNorm, config.NormEpsilon, config.TieEmbeddings));
        Assert.Equal((0.001, 0.1, 1e-4), (config.DtMin, config.DtMax, config.DtInitFloor));
        Assert.Null(config.DtRank);
        Assert.Equal(7, config.ResolvedDtRank);            // ⌈100/16⌉
        Assert.Equal(200, config.DInner);
        Assert.Equal("auto", JsonNode.Parse(config.ToJson())!["dt_rank"]!.GetValue<string>());
        Assert.Null(MambaConfig.Parse(config.ToJson()).DtRank);
    }

    [Fact]
    public void Reads_the_layout_mamba_ssm_writes()
    {
        // mamba_ssm keeps the mixer's arguments in ssm_cfg; state-spaces/mamba-130m's config.json looks like this.
        var config = MambaConfig.Parse("""
            { "d_model": 768, "n_layer": 24, "vocab_size": 50277, "ssm_cfg": { "d_state": 8, "layer": "Mamba1" },
              "rms_norm": true, "residual_in_fp32": true, "fused_add_norm": true, "pad_vocab_size_multiple": 8,
              "tie_embeddings": true, "d_intermediate": 0, "attn_layer_idx": [] }
            """);
        Assert.Equal(8, config.DState);
        Assert.Equal(48, config.ResolvedDtRank);
        Assert.Equal(50280, config.PaddedVocabSize);
        Assert.False(config.Extra.ContainsKey("ssm_cfg"));   // folded into the top-level fields
        Assert.Equal(8, MambaConfig.Parse(config.ToJson()).DState);
    }

    [Theory]
    [InlineData("""{ "d_model": 0 }""", "d_model must be in [1,")]
    [InlineData("""{ "n_layer": -1 }""", "n_layer must be in [1,")]
    [InlineData("""{ "vocab_size": 0 }""", "vocab_size must be in [1,")]
    [InlineData("""{ "d_state": 0 }""", "d_state must be in [1,")]
    [InlineData("""{ "d_conv": 1 }""", "d_conv must be in [2,")]
    [InlineData("""{ "expand": 0 }""", "expand must be in [1,")]
    [InlineData("""{ "dt_rank": 0 }""", "dt_rank must be in [1,")]
    [InlineData("""{ "dt_rank": "bogus" }""", "field \"dt_rank\" has an invalid value \"bogus\"")]
    [InlineData("""{ "dt_min": 0.5, "dt_max": 0.1 }""", "dt_min 0.5 must not exceed dt_max 0.1")]
    [InlineData("""{ "dt_min": 0 }""", "dt_min must be positive")]
    [InlineData("""{ "dt_init_floor": -1 }""", "dt_init_floor must be ≥ 0")]
    [InlineData("""{ "norm_epsilon": 0 }""", "norm_epsilon must be positive")]
    [InlineData("""{ "pad_vocab_size_multiple": 0 }""", "pad_vocab_size_multiple must be in [1,")]
    [InlineData("""{ "vocab_size": "abc" }""", "field \"vocab_size\" has an invalid value")]
    [InlineData("""{ "model_type": "ttt" }""", "model_type is \"ttt\", expected \"mamba\"")]
    [InlineData("""{ "ssm_cfg": { "layer": "Mamba2" } }""", "ssm_cfg.layer \"Mamba2\" is not supported")]
    [InlineData("""{ "ssm_cfg": { "headdim": 64 } }""", "ssm_cfg field \"headdim\" is not supported")]
    [InlineData("""{ "ssm_cfg": [] }""", "ssm_cfg must be an object")]
    [InlineData("""{ "d_state": 16, "ssm_cfg": { "d_state": 8 } }""", "d_state is 16 at the top level but 8 in ssm_cfg")]
    [InlineData("""{ "ssm_cfg": { "d_state": 0 } }""", "d_state must be in [1,")]
    [InlineData("""{ "d_intermediate": 128 }""", "d_intermediate 128")]
    [InlineData("""{ "attn_layer_idx": [1] }""", "attn_layer_idx [1]")]
    [InlineData("""{ "d_model": 10, """, "not valid JSON")]
    [InlineData("""[1, 2]""", "expected a JSON object")]
    [InlineData("""{ "d_model": 65536, "vocab_size": 16777216 }""", "absurdly large")]
    public void Invalid_configs_are_rejected_naming_the_field(string json, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => MambaConfig.Parse(json, "cfg.json"));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.StartsWith("cfg.json: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_reads_a_file_and_names_a_missing_one()
    {
        var dir = Directory.CreateTempSubdirectory("mamba-config-");
        try
        {
            var path = Path.Combine(dir.FullName, "config.json");
            File.WriteAllText(path, MambaConfig.Preset("small", 256).ToJson());
            var config = MambaConfig.Load(path);
            Assert.Equal((128, 6, 256), (config.DModel, config.NLayer, config.VocabSize));
            var missing = Path.Combine(dir.FullName, "nope.json");
            Assert.Contains(missing, Assert.Throws<FileNotFoundException>(() => MambaConfig.Load(missing)).Message, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Presets_have_the_paper_shapes_and_unknown_names_are_listed()
    {
        Assert.Equal((768, 24), (MambaConfig.Preset("125m", 100).DModel, MambaConfig.Preset("125m", 100).NLayer));
        Assert.Equal((2048, 48), (MambaConfig.Preset("1.3b", 100).DModel, MambaConfig.Preset("1.3b", 100).NLayer));
        foreach (var name in MambaConfig.PresetNames)
        {
            var p = MambaConfig.Preset(name, 100);
            Assert.Equal((16, 4, 2, (int?)null), (p.DState, p.DConv, p.Expand, p.DtRank));
        }
        var e = Assert.Throws<ArgumentException>(() => MambaConfig.Preset("huge", 100));
        Assert.Contains("tiny, small, 125m, 350m, 760m, 1.3b", e.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidDataException>(() => MambaConfig.Preset("tiny", 0));
    }
}
