// Shared by the config tests: load text as a fixed file name, look at errors
// by line, and temporary directories for [include] tests.
#pragma once

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.hpp"

namespace cfgtest {

using namespace vigil::config;

inline const std::string kFile = "/etc/vigil/vigil.ini";

inline LoadResult load(std::string_view text, const LoadOptions& options = {}) {
    return load_string(text, kFile, options);
}

inline std::string dump(const LoadResult& r) {
    std::string out;
    for (const auto& e : r.errors) out += e.to_string() + "\n";
    return out;
}

// Loads text that must be valid.
inline Config ok(std::string_view text, const LoadOptions& options = {}) {
    LoadResult r = load(text, options);
    INFO(dump(r));
    REQUIRE(r.ok());
    REQUIRE(r.errors.empty());
    return *r.config;
}

// Loads text that must be refused; the errors as "LINE: message".
inline std::vector<std::string> errors(std::string_view text, const LoadOptions& options = {}) {
    LoadResult r = load(text, options);
    INFO(dump(r));
    REQUIRE_FALSE(r.ok());
    REQUIRE_FALSE(r.errors.empty());
    std::vector<std::string> out;
    for (const auto& e : r.errors) {
        CHECK(e.loc.file == kFile);
        out.push_back(std::to_string(e.loc.line) + ": " + e.message);
    }
    return out;
}

// The text has exactly one error, at `line`, whose message contains `needle`.
inline void only_error(std::string_view text, int line, const std::string& needle,
                       const LoadOptions& options = {}) {
    auto errs = errors(text, options);
    INFO("errors:\n" << [&] {
        std::string s;
        for (const auto& e : errs) s += e + "\n";
        return s;
    }());
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].rfind(std::to_string(line) + ": ", 0) == 0);
    CHECK(errs[0].find(needle) != std::string::npos);
}

inline bool has_error(const std::vector<std::string>& errs, int line, const std::string& needle) {
    for (const auto& e : errs)
        if (e.rfind(std::to_string(line) + ": ", 0) == 0 && e.find(needle) != std::string::npos) return true;
    return false;
}

// __FILE__ may be relative (ccache's CCACHE_BASEDIR rewrites it), so also
// look upwards from the working directory, which ctest sets inside the build
// tree.
inline std::filesystem::path examples_dir() {
    namespace fs = std::filesystem;
    const fs::path rel = "config/examples/demo.ini";
    fs::path from_source = fs::path(__FILE__).parent_path() / "../../.." / rel;
    if (fs::path(__FILE__).is_absolute() && fs::exists(from_source)) return from_source.parent_path();
    for (fs::path dir = fs::current_path(); !dir.empty(); dir = dir.parent_path()) {
        if (fs::exists(dir / rel)) return (dir / rel).parent_path();
        if (dir == dir.parent_path()) break;
    }
    FAIL("cannot find config/examples from " << fs::current_path());
    return {};
}

inline const Program& get(const Config& c, const std::string& name) {
    const Program* p = c.find(name);
    INFO("process " << name);
    REQUIRE(p != nullptr);
    return *p;
}

inline std::vector<std::string> names(const Config& c) {
    std::vector<std::string> out;
    for (const auto& p : c.programs) out.push_back(p.name);
    return out;
}

// A fresh directory under the system temp dir, removed afterwards.
class TempDir {
public:
    TempDir() {
        std::random_device rd;
        for (int attempt = 0; attempt < 100; ++attempt) {
            auto p = std::filesystem::temp_directory_path() /
                     ("vigil-config-test-" + std::to_string(rd()) + std::to_string(rd()));
            if (std::filesystem::create_directory(p)) {
                path_ = p;
                return;
            }
        }
        FAIL("cannot create a temp dir");
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::string str(const std::string& rel = "") const { return rel.empty() ? path_.string() : (path_ / rel).string(); }

    std::string write(const std::string& rel, std::string_view text) const {
        auto p = path_ / rel;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << text;
        return p.string();
    }

private:
    std::filesystem::path path_;
};

}  // namespace cfgtest
