// https checks go through vigil-tls.so, loaded on the first one: a vigild
// without https checks never maps OpenSSL (its RSS budget, tests/bench), one
// with them loads the plugin and the check passes against a real TLS server.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "harness.hpp"

using namespace vigil::test;

namespace {

std::string maps_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

}  // namespace

TEST_CASE("tls plugin: OpenSSL is mapped only once an https check runs", "[tls]") {
    {
        Vigild v("[program:plain]\ncommand = " + child_path() +
                 "\nstartsecs = 0\nhealthcheck = exec:true\nhealth_interval = 100ms\n");
        v.start();
        REQUIRE(v.expect("plain: health starting -> healthy"));
        const std::string maps = maps_of(v.pid());
        CHECK(maps.find("libssl") == std::string::npos);
        CHECK(maps.find("libcrypto") == std::string::npos);
        CHECK(maps.find("vigil-tls") == std::string::npos);
    }

    Vigild v("");
    const std::string cert = v.dir() / "cert.pem", key = v.dir() / "key.pem";
    std::string out;
    REQUIRE(run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"},
                &out) == 0);
    const int port = free_port();
    {
        std::ofstream cfg(v.config_path(), std::ios::app);
        cfg << "[program:tls]\ncommand = openssl s_server -www -quiet -accept 127.0.0.1:" << port << " -cert " << cert
            << " -key " << key << "\nstartsecs = 0\nhealthcheck = https://localhost:" << port
            << "/\nhealth_interval = 200ms\nhealth_timeout = 2s\n";
    }
    v.start();
    REQUIRE(v.expect("tls: health starting -> healthy", 20s));
    const std::string maps = maps_of(v.pid());
    CHECK(maps.find("vigil-tls.so") != std::string::npos);
    CHECK(maps.find("libssl.so") != std::string::npos);
    REQUIRE(v.ctl({"health", "tls"}, &out) == 0);
    CHECK(out.find("HTTP 200") != std::string::npos);
}
