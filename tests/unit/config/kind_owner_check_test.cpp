#include <catch2/catch.hpp>

#include <string>

#include "config/kinds.hpp"

using vigil::config::kPostgresScript;
using vigil::config::kRedisScript;

TEST_CASE("kinds: both wrappers refuse a data_dir owned by another user, with a vigil error line") {
    for (std::string s : {std::string(kPostgresScript), std::string(kRedisScript)}) {
        const auto check = s.find("if [ -e \"$2\" ] && [ ! -O \"$2\" ]; then");
        REQUIRE(check != std::string::npos);
        CHECK(s.find("echo \"vigil: error: data_dir $2 is owned by") > check);
        CHECK(s.find("exit 1", check) != std::string::npos);
        // Before anything touches the directory.
        CHECK(check < s.find("install -d"));
    }
}
