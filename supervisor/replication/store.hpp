// What the replication manager does on a pair's servers, by kind: SQL for
// PostgreSQL (pg_store.cpp), RESP for Redis (redis_store.cpp). Every call
// blocks (bounded by timeouts) and runs on one of the manager's worker
// threads, never on vigild's event loop. "" on success, else the error.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "supervisor/core/replication.hpp"
#include "supervisor/replication/blocking_socket.hpp"

namespace vigil::supervisor::replication {

struct Member {
    std::string name;
    Target at;
};

class Store {
public:
    virtual ~Store() = default;
    // PostgreSQL's synchronous_standby_names; Redis has no such setting.
    virtual bool synchronous_capable() const = 0;
    virtual std::string promote(const Target& replica) const = 0;
    virtual std::string set_sync(const Target& primary, const std::string& standby) const = 0;
    virtual std::string set_async(const Target& primary) const = 0;
    // A switchover, the old primary stopped cleanly: until `replica` has
    // applied everything the old primary sent (bounded).
    virtual std::string wait_replayed(const Target& replica) const = 0;
    // What the primary (and, for Redis, each replica) says of the replicas;
    // a replica it does not mention gets a lag with streaming = false.
    virtual std::string poll(const Member& primary, const std::vector<Member>& replicas,
                             std::map<std::string, core::ReplicaLag>& lags) const = 0;
    // The server's data is still in `data_dir` (checked at each exit of a paired member).
    virtual bool data_usable(const std::string& data_dir) const = 0;
};

// "postgres" or "redis".
std::unique_ptr<Store> make_store(const std::string& kind);

}  // namespace vigil::supervisor::replication
