// Redis replication as vigild reads it, pure (the sockets are in
// supervisor/replication/redis_store.cpp): RESP requests, the replies
// vigild takes (read by core/resp.hpp), INFO's "key:value" lines, and a
// replica's lag from what its master and the replica itself say in
// `INFO replication`.
//
// The master's own line for a replica (slaveN:…,offset=,lag=) holds the
// offset the replica last acknowledged, and replicas acknowledge once a
// second: under writes it trails by up to a second even when the replica
// has everything. So the bytes behind are the master's master_repl_offset
// against the replica's own slave_repl_offset, the replica asked right
// after the master; the master's `lag` (seconds since the replica's last
// acknowledgement) says whether it is still answering.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/core/replication.hpp"
#include "supervisor/core/resp.hpp"

namespace vigil::core::redis {

std::string command(const std::vector<std::string>& argv);

struct Reply {
    bool error = false;  // -ERR …
    std::string text;    // a simple string, an error, an integer's digits, a bulk string ("" for nil)
};
// What vigild reads of one reply at most (core/resp.hpp): INFO replication
// is a few KiB, and whatever answers on a member's port must not make
// vigild buffer without bound (it is read until a reply is whole).
// Arrays are read (small and flat: a reply that is one is still read
// whole, bounded, so the refusal below can name it) but refused by
// parse_reply: neither command vigild sends (INFO, REPLICAOF NO ONE)
// answers with one, so an array means something other than what vigild
// asked for is answering.
inline constexpr resp::Limits kLimits{
    .max_line = 64 * 1024,    // a status, error or integer line, a bulk header
    .max_bulk = 1024 * 1024,  // a bulk string's body
    .max_items = 16,
    .max_depth = 1,
    .max_reply = 64 * 1024 + 2 + 1024 * 1024 + 2,  // a bulk header and body, no more
};

// One reply from the front of `buf` (resp::parse with kLimits): nullopt
// while incomplete (`bad` empty) or unusable (`bad` says why: a reply over
// the limits, malformed, or an array).
std::optional<Reply> parse_reply(std::string_view buf, std::size_t& used, std::string& bad);

using Info = std::map<std::string, std::string>;
Info parse_info(std::string_view text);  // also vigilctl backup's (ctl/backup_plan.hpp)

// The replica that listens on host:port (its config address; a wildcard
// host matches any) as the master's and its own INFO replication show it.
// Streaming only when the master lists it online, the replica's link to
// that master (master_port) is up and both have the same replication id.
// `master` holds INFO's replication and stats sections (sync_full: the
// core restarts its in-sync clock after each full resynchronisation).
ReplicaLag replica_lag(const Info& master, const Info& replica, const std::string& host, int port, int master_port);

// A replica has applied everything it received, and its master is gone
// (a switchover stopped it: Redis 7 waits for its replicas to acknowledge
// its last offset before it exits). Else why not, for the log.
bool drained(const Info& replica, std::string& why);

}  // namespace vigil::core::redis
