// The two proxies under comparison, in front of one recording backend:
// nginx (Debian's package, one worker process, its own prefix, config, pid
// and temp paths in a temp dir, `daemon off`, HTTP/1.1 upstream keepalive) and the
// vigil-proxy of this build, both on free ports of 127.0.0.1, with the same
// body limit. A missing nginx makes the test report SKIPPED, never pass.
#pragma once

#include <initializer_list>
#include <memory>
#include <optional>
#include <string>

#include "harness.hpp"
#include "recorder.hpp"

namespace conformance {

// ctest's SKIP_RETURN_CODE for this suite (tests/conformance/CMakeLists.txt).
inline constexpr int skip_code = 77;

// Prints why and exits with skip_code.
[[noreturn]] void skip(const std::string& why);

// The first of `candidates` that is an executable file, else the test is
// skipped ("`name` not installed (scripts/setup.sh installs it)").
std::string require_tool(const std::string& name, std::initializer_list<const char*> candidates);

class Nginx {
public:
    Nginx(const std::string& binary, int upstream_port);
    ~Nginx();
    Nginx(const Nginx&) = delete;
    Nginx& operator=(const Nginx&) = delete;
    int port() const { return port_; }

private:
    proxytest::TempDir dir_;
    std::optional<proxytest::Child> proc_;
    int port_ = 0;
};

struct Stack {
    Stack();
    Recorder rec;
    std::unique_ptr<Nginx> nginx;
    std::unique_ptr<proxytest::Proxy> vigil;
};

}  // namespace conformance
