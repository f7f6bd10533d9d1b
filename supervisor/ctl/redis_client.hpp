// A minimal Redis client for `vigilctl backup` (BGSAVE, INFO, CONFIG GET):
// one blocking TCP connection with 10 s send/receive timeouts, replies read
// by core/resp.hpp within limits fit for those commands (redis_client.cpp).
// Every error is a backup_io::fail.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "supervisor/core/resp.hpp"

namespace vigil::ctl {

class Redis {
public:
    Redis(const std::string& host, std::uint16_t port);
    ~Redis();
    Redis(const Redis&) = delete;
    Redis& operator=(const Redis&) = delete;
    core::resp::Value command(const std::vector<std::string>& argv);
    // A command whose error reply is a failure.
    core::resp::Value ok(const std::vector<std::string>& argv);
    std::string config_get(const std::string& key);
    std::map<std::string, std::string> info(const std::string& section);

private:
    int fd_ = -1;
    std::string buf_;
};

}  // namespace vigil::ctl
