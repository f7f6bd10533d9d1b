#include "supervisor/replication/store.hpp"

namespace vigil::supervisor::replication {

std::unique_ptr<Store> make_pg_store();     // pg_store.cpp
std::unique_ptr<Store> make_redis_store();  // redis_store.cpp

std::unique_ptr<Store> make_store(const std::string& kind) {
    return kind == "redis" ? make_redis_store() : make_pg_store();
}

}  // namespace vigil::supervisor::replication
