// The TOML config file, as `aipassport serve --config FILE` reads it (with an empty environment),
// and listen addresses.

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "app/config.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ap;
  static const std::string path = [] {
    std::string p = "/tmp/ap-config-fuzz-" + std::to_string(getpid()) + ".toml";
    std::atexit([] { unlink(("/tmp/ap-config-fuzz-" + std::to_string(getpid()) + ".toml").c_str()); });
    return p;
  }();
  std::string_view input = fuzz::Text(data, size);
  {
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file.write(input.data(), static_cast<std::streamsize>(input.size()));
  }
  app::Flags flags;
  flags.config_file = path;
  auto config = app::LoadConfig(flags, [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
  if (config && !app::ParseListen(config->listen)) fuzz::Broken("an accepted config listens somewhere");
  (void)app::ParseListen(input);
  return 0;
}
