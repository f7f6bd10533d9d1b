// libFuzzer target: the config loader on arbitrary INI text.
//
// load_string() must never crash, hang or leak, whatever the bytes; it
// returns either a whole Config or errors, each `file:line: message`, and
// warnings of the same form. Both dialects are reached: a supervisord config
// (`[supervisord]` and no `[vigil]`) turns unknown keys into warnings.
// [include] is refused (follow_includes = false), so no file is read and the
// run is deterministic. %(ENV_X)s takes its values from a fixed map.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "config/loader.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const vigil::config::LoadOptions options = [] {
        vigil::config::LoadOptions o;
        o.follow_includes = false;
        o.host_node_name = "fuzzhost";
        o.env = {{"HOME", "/home/fuzz"}, {"PORT", "8080"}, {"EMPTY", ""}, {"PCT", "%(ENV_PCT)s"}};
        return o;
    }();
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto result = vigil::config::load_string(text, "fuzz.ini", options);

    // The contract of LoadResult: a config exactly when there are no errors,
    // and every error names the file it is about.
    VIGIL_FUZZ_CHECK(result.ok() == result.errors.empty());
    for (const auto* list : {&result.errors, &result.warnings})
        for (const auto& e : *list) {
            const std::string line = e.to_string();
            VIGIL_FUZZ_CHECK(!line.empty());
            VIGIL_FUZZ_CHECK(!e.message.empty());
        }
    if (result.ok()) {
        // Process names are unique: the supervisor keys its runners by them.
        std::set<std::string_view> names;
        for (const auto& p : result.config->programs) VIGIL_FUZZ_CHECK(names.insert(p.name).second);
    }
    return 0;
}
