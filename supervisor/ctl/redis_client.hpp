// A minimal Redis client for `vigilctl backup` (BGSAVE, INFO, CONFIG GET):
// one blocking TCP connection with 10 s send/receive timeouts, RESP from
// supervisor/ctl/backup_plan.hpp. Every error is a backup_io::fail.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "supervisor/ctl/backup_plan.hpp"

namespace vigil::ctl {

class Redis {
public:
    Redis(const std::string& host, std::uint16_t port);
    ~Redis();
    Redis(const Redis&) = delete;
    Redis& operator=(const Redis&) = delete;
    backup::RespValue command(const std::vector<std::string>& argv);
    // A command whose error reply is a failure.
    backup::RespValue ok(const std::vector<std::string>& argv);
    std::string config_get(const std::string& key);
    std::map<std::string, std::string> info(const std::string& section);

private:
    int fd_ = -1;
    std::string buf_;
};

}  // namespace vigil::ctl
