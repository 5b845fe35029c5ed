// GPT-2 safetensors export and import on one rank: names and shapes are GPT-2's, a round trip is
// exact, and a checkpoint of another model size is refused with the parameter named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "core/safetensors.h"
#include "layers/gpt2_safetensors.h"
#include "tests/gpt_test_util.h"

namespace trident {
namespace {

using testing_util::tiny_config;

std::string temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() / (std::string(name) + "." + std::to_string(getpid()))).string();
}

TEST(Gpt2Safetensors, ExportHasGpt2NamesAndShapes) {
  const GptConfig c = tiny_config();
  GptChunk m(c, ChunkLayout::whole(c), nullptr, {});
  const std::string path = temp_path("gpt2_names.safetensors");
  export_gpt2_safetensors(m, path);
  const SafetensorsFile f(path);
  EXPECT_EQ(f.names().size(), m.parameters().size());
  EXPECT_EQ(f.shape("wte.weight"), Shape({c.vocab, c.hidden}));
  EXPECT_EQ(f.shape("wpe.weight"), Shape({c.seq_len, c.hidden}));
  EXPECT_EQ(f.shape("h.1.attn.c_attn.weight"), Shape({c.hidden, 3 * c.hidden}));
  EXPECT_EQ(f.shape("h.0.mlp.c_proj.weight"), Shape({4 * c.hidden, c.hidden}));
  EXPECT_EQ(f.shape("ln_f.bias"), Shape({c.hidden}));
  EXPECT_EQ(f.metadata().at("trident.vocab"), std::to_string(c.vocab));
  std::remove(path.c_str());
}

TEST(Gpt2Safetensors, RoundTripIsExact) {
  const GptConfig c = tiny_config();
  GptChunk a(c, ChunkLayout::whole(c), nullptr, {});
  const std::string path = temp_path("gpt2_roundtrip.safetensors");
  export_gpt2_safetensors(a, path);
  GptConfig other_seed = c;
  other_seed.seed = c.seed + 1;
  GptChunk b(other_seed, ChunkLayout::whole(other_seed), nullptr, {});
  import_gpt2_safetensors(b, path);
  for (Parameter* p : a.parameters()) {
    const Tensor& want = p->value;
    const Tensor& got = b.find(p->name())->value;
    for (std::int64_t i = 0; i < want.numel(); ++i)
      ASSERT_EQ(got.data<float>()[i], want.data<float>()[i]) << p->name() << "[" << i << "]";
  }
  std::remove(path.c_str());
}

TEST(Gpt2Safetensors, OtherModelSizeIsRefusedNamingTheParameter) {
  const GptConfig c = tiny_config();
  GptChunk a(c, ChunkLayout::whole(c), nullptr, {});
  const std::string path = temp_path("gpt2_mismatch.safetensors");
  export_gpt2_safetensors(a, path);
  GptConfig wider = c;
  wider.seq_len = c.seq_len * 2;
  GptChunk b(wider, ChunkLayout::whole(wider), nullptr, {});
  try {
    import_gpt2_safetensors(b, path);
    FAIL() << "a checkpoint with seq_len " << c.seq_len << " must not load into seq_len " << wider.seq_len;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'wpe.weight' is f32 [8, 16] but this model needs f32 [16, 16]"),
              std::string::npos)
        << e.what();
  }
  GptConfig deeper = c;
  deeper.layers = 3;
  GptChunk d(deeper, ChunkLayout::whole(deeper), nullptr, {});
  EXPECT_THROW(import_gpt2_safetensors(d, path), Error);  // h.2.* missing
  std::remove(path.c_str());
}

}  // namespace
}  // namespace trident
